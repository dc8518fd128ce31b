"""Every write path redacts before a byte reaches a file: store_message, store_session,
create, patch, the importers, the capture hook, restore; and over MCP the response says
what was redacted (kinds and counts, never a value)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from vault import Vault
from vault.importers import capture_claude_code, run_import
from vault.redaction import MARKER

from . import transcripts
from .planted import CASES

AWS = next(c for c in CASES if c.name == "env dump: AWS")
STRIPE = next(c for c in CASES if c.name == "stripe live key")
PEM = next(c for c in CASES if c.name == "RSA private key file")
PASSWORD_JSON = next(c for c in CASES if c.name == "password in a JSON config")
FIXED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _vault_bytes(root: Path) -> bytes:
    """Every file under .codearchitect/ (sessions, journal…), concatenated."""
    folder = root / ".codearchitect"
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _tree(vault: Vault) -> dict[str, str]:
    return {
        str(p.relative_to(vault.sessions_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(vault.sessions_dir.rglob("*.md"))
    }


def _assert_clean(root: Path, secrets: tuple[str, ...] | list[str]) -> None:
    data = _vault_bytes(root)
    for secret in secrets:
        for form in (secret, json.dumps(secret)[1:-1]):
            assert form.encode() not in data, secret[:12]


def test_store_message_redacts_content_tool_calls_and_the_new_sessions_title(
    vault_root: Path,
) -> None:
    vault = Vault(vault_root)
    metadata = {
        "toolCalls": [
            {
                "name": "Bash",
                "arguments": {
                    "command": f"curl -u deploy:{STRIPE.secrets[0]} https://api.stripe.com"
                },
                "result": PEM.text,
            }
        ],
        "db": {"password": "Kx9!mQ2#vT7p"},
    }
    appended = vault.append_message(
        "deploy-notes",
        "assistant",
        AWS.text,
        metadata,
        new_session={"title": f"Rotating {AWS.secrets[0]}"},
    )
    assert appended.redacted.to_dict() == {
        "aws-access-key": 2,
        "aws-secret-key": 1,
        "password": 1,
        "private-key": 1,
        "stripe-key": 1,
    }
    _assert_clean(vault_root, [*AWS.secrets, *STRIPE.secrets, *PEM.secrets, "Kx9!mQ2#vT7p"])
    session = vault.get("deploy-notes")
    message = session.messages[0]
    assert not message.edited
    assert MARKER.search(message.content)
    assert session.title.startswith("Rotating [REDACTED:aws-access-key:")
    call = message.metadata["toolCalls"][0]
    assert call["name"] == "Bash"
    assert call["arguments"]["command"].startswith("curl -u deploy:[REDACTED:stripe-key:")
    assert call["result"].startswith("$ cat ~/.ssh/deploy_key\n[REDACTED:private-key:")
    assert message.metadata["db"]["password"].startswith("[REDACTED:password:")


def test_a_clean_message_reports_nothing_and_is_stored_verbatim(vault_root: Path) -> None:
    vault = Vault(vault_root)
    appended = vault.append_message(None, "user", "Let's add retries to the uploader")
    assert appended.redacted.to_dict() == {}
    assert vault.get(appended.session_id).messages[0].content == "Let's add retries to the uploader"


def test_store_session_redacts_messages_topic_title_and_file_name(vault_root: Path) -> None:
    vault = Vault(vault_root)
    secret = AWS.secrets[0]
    stored = vault.store_session(
        f"User: my key is {secret}\nAI: rotate it now, and {PASSWORD_JSON.text}",
        topic=f"leaked {secret}",
    )
    assert stored.redacted.to_dict() == {"aws-access-key": 2, "password": 1}
    assert secret.lower() not in stored.path.name.lower()
    assert secret not in stored.session.title
    _assert_clean(vault_root, [secret, *PASSWORD_JSON.secrets])


def test_create_and_patch_redact_frontmatter(vault_root: Path) -> None:
    vault = Vault(vault_root)
    vault.create_session("s1", title=f"about {STRIPE.secrets[0]}", metadata={"note": AWS.text})
    vault.patch("s1", title=f"now {AWS.secrets[0]}", metadata={"token": "Zt8xQ2vR9mW4kP7s"})
    session = vault.get("s1")
    assert session.title.startswith("now [REDACTED:aws-access-key:")
    assert session.metadata["token"].startswith("[REDACTED:secret:")
    _assert_clean(vault_root, [*STRIPE.secrets, *AWS.secrets, "Zt8xQ2vR9mW4kP7s"])


def test_restore_redacts_a_journal_entry_written_before_redaction(vault_root: Path) -> None:
    vault = Vault(vault_root)
    vault.append_message("s", "user", "first")
    secret = AWS.secrets[0]
    old = {
        "session_id": "s",
        "id": "m-old",
        "role": "user",
        "created_at": "2025-01-15T14:30:22.000Z",
        "content": f"key {secret}",
        "metadata": {},
        "sha256": "0" * 64,
        "acked_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    journal = vault.journal.folder / f"{datetime.now(UTC):%Y-%m-%d}.jsonl"
    with journal.open("a", encoding="utf-8") as f:
        f.write(json.dumps(old) + "\n")
    session_id, position = vault.restore_acked("m-old")
    assert session_id == "s"
    content = vault.get("s").messages[position].content
    assert content.startswith("key [REDACTED:aws-access-key:")
    assert secret.encode() not in vault.locate("s").read_bytes()


# ---------------------------------------------------------------- importers, capture


def _transcript(rounds: int = 1) -> tuple[Path, Path]:
    home = Path.home()
    path = home / ".claude" / "projects" / "-proj" / f"{transcripts.SESSION}.jsonl"
    return transcripts.write(path, str(home / "code" / "proj"), rounds), home


def test_import_redacts_is_deterministic_and_still_only_appends(
    vault_root: Path, tmp_path: Path
) -> None:
    path, _ = _transcript(1)
    vault = Vault(vault_root)
    report = run_import(vault, "claude-code", [path], clock=lambda: FIXED)
    assert report.redacted.to_dict() == {
        "anthropic-api-key": 1,
        "aws-access-key": 1,
        "aws-secret-key": 1,
        "jwt": 1,
    }
    assert report.to_dict()["redacted"] == report.redacted.to_dict()
    _assert_clean(vault_root, transcripts.SECRETS)
    first = _tree(vault)

    again = run_import(vault, "claude-code", [path], clock=lambda: FIXED)
    assert (again.messages_added, again.changed_after_import, _tree(vault)) == (0, [], first)

    other = Vault(tmp_path / "other")
    run_import(other, "claude-code", [path], clock=lambda: FIXED)
    assert _tree(other) == first  # same transcript, same bytes: no salt, no clock in markers

    file = vault.locate(f"cc-{transcripts.SESSION}")
    before = file.read_bytes()
    transcripts.write(path, str(Path.home() / "code" / "proj"), 2)
    grown = run_import(vault, "claude-code", [path], clock=lambda: FIXED)
    assert grown.messages_added == 3 and grown.changed_after_import == []
    after = file.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    _assert_clean(vault_root, transcripts.SECRETS)


def test_imported_paths_do_not_name_the_home_folder(vault_root: Path) -> None:
    path, home = _transcript(1)
    vault = Vault(vault_root)
    run_import(vault, "claude-code", [path], clock=lambda: FIXED)
    session = vault.get(f"cc-{transcripts.SESSION}")
    assert session.source_path == f"~/.claude/projects/-proj/{transcripts.SESSION}.jsonl"
    assert session.metadata["cwd"] == "~/code/proj"
    assert str(home).encode() not in vault.locate(session.id).read_bytes()


def test_a_vault_written_before_this_version_is_still_only_appended_to(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old files: absolute source_path and secrets in clear. A re-import compares by id,
    writes nothing for what the file holds, appends the new messages redacted, and never
    rewrites the frontmatter."""
    path, home = _transcript(1)
    (vault_root / ".codearchitect").mkdir(parents=True)
    config = vault_root / ".codearchitect" / "config.json"
    config.write_text('{"redaction": {"enabled": false}}')
    monkeypatch.setenv("HOME", "/nonexistent-home")  # the old version wrote absolute paths
    vault = Vault(vault_root)
    run_import(vault, "claude-code", [path], clock=lambda: FIXED)
    file = vault.locate(f"cc-{transcripts.SESSION}")
    old = file.read_bytes()
    assert str(path).encode() in old and AWS.secrets[0].encode() in old

    monkeypatch.setenv("HOME", str(home))
    config.write_text("{}")
    same = run_import(Vault(vault_root), "claude-code", [path], clock=lambda: FIXED)
    assert (same.messages_added, same.changed_after_import) == (0, [])
    assert file.read_bytes() == old

    transcripts.write(path, str(home / "code" / "proj"), 2)
    grown = run_import(Vault(vault_root), "claude-code", [path], clock=lambda: FIXED)
    assert grown.messages_added == 3 and grown.changed_after_import == []
    new = file.read_bytes()
    assert new.startswith(old)
    assert AWS.secrets[0].encode() not in new[len(old) :]
    assert Vault(vault_root).get(f"cc-{transcripts.SESSION}").source_path == str(path)


def test_the_capture_hook_redacts(vault_root: Path) -> None:
    path, _ = _transcript(1)
    payload = {
        "session_id": transcripts.SESSION,
        "transcript_path": str(path),
        "cwd": str(vault_root),
        "hook_event_name": "Stop",
    }
    assert capture_claude_code(json.dumps(payload)) == 0
    vault = Vault(vault_root)
    assert len(vault.get(f"cc-{transcripts.SESSION}").messages) == 3
    _assert_clean(vault_root, transcripts.SECRETS)


# ---------------------------------------------------------------- project settings


def _config(root: Path, section: Any) -> None:
    (root / ".codearchitect").mkdir(parents=True, exist_ok=True)
    (root / ".codearchitect" / "config.json").write_text(json.dumps({"redaction": section}))


def test_project_allowlist_and_disabled_kinds_apply_and_are_re_read(vault_root: Path) -> None:
    vault = Vault(vault_root)
    aws_id = AWS.secrets[0]
    _config(vault_root, {"allow": [aws_id], "disable": ["stripe-key"]})
    kept = vault.append_message("s", "user", f"{aws_id} {STRIPE.secrets[0]}")
    assert kept.redacted.to_dict() == {}
    assert vault.get("s").messages[0].content == f"{aws_id} {STRIPE.secrets[0]}"
    _config(vault_root, {"allow_patterns": ["^AKIA"], "disable": []})
    changed = vault.append_message("s", "user", f"{aws_id} {STRIPE.secrets[0]} again")
    assert changed.redacted.to_dict() == {"stripe-key": 1}


def test_a_broken_setting_never_turns_redaction_off(vault_root: Path) -> None:
    _config(vault_root, {"enabled": "no", "allow_patterns": ["(unclosed"], "disable": ["bogus"]})
    vault = Vault(vault_root)
    assert vault.append_message("s", "user", AWS.text).redacted.total == 2
    problems = vault.redactor().config.problems
    assert len(problems) == 3 and all("config.json" in p for p in problems)
    (vault_root / ".codearchitect" / "config.json").write_text("{not json")
    assert vault.append_message("s", "user", AWS.text).redacted.total == 2
    assert "cannot be read" in vault.redactor().config.problems[0]


def test_a_planted_fifo_or_link_at_the_setting_reads_as_no_setting(
    vault_root: Path, tmp_path: Path
) -> None:
    """A cloned project's config.json may be a FIFO (reading it blocked every write, found by
    the hostile-tree stress run) or a link to a file outside (never followed)."""
    config = vault_root / ".codearchitect" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(config)
    vault = Vault(vault_root)
    stored: list[int] = []
    writer = threading.Thread(
        target=lambda: stored.append(vault.append_message("s", "user", AWS.text).redacted.total),
        daemon=True,
    )
    writer.start()
    writer.join(30)
    assert stored == [2], "the write blocked on the FIFO, or redaction was off"
    config.unlink()
    outside = tmp_path / "outside.json"
    outside.write_text('{"redaction": {"enabled": false}}')
    config.symlink_to(outside)
    assert vault.append_message("s", "user", AWS.text).redacted.total == 2


# ---------------------------------------------------------------- MCP


@pytest.mark.anyio
async def test_tool_responses_report_kinds_and_counts_never_values(vault_root: Path) -> None:
    from mcp_server.app import App
    from mcp_server.server import build_server

    app = App(vault_root)
    try:
        async with Client(build_server(app)) as client:
            result = await client.call_tool(
                "store_message", {"content": AWS.text, "role": "tool", "session": "mcp"}
            )
            data = result.structured_content
            assert data is not None and data["success"] is True
            assert data["redacted"] == {"aws-access-key": 1, "aws-secret-key": 1}
            text = json.dumps(data) + "".join(getattr(c, "text", "") for c in result.content)
            assert all(s not in text for s in AWS.secrets)
            result = await client.call_tool(
                "store_session", {"conversation": f"User: {STRIPE.text}", "topic": "pay"}
            )
            assert result.structured_content is not None
            assert result.structured_content["redacted"] == {"stripe-key": 1}
            result = await client.call_tool(
                "patch_session", {"session": "mcp", "metadata": {"env": AWS.text}}
            )
            patched = result.structured_content
            assert patched is not None and patched["success"] is True, patched
            assert patched["redacted"] == {"aws-access-key": 1, "aws-secret-key": 1}
            assert all(s not in json.dumps(patched) for s in AWS.secrets)
            clean = await client.call_tool("patch_session", {"session": "mcp", "title": "plain"})
            assert clean.structured_content is not None
            assert clean.structured_content["redacted"] == {}
            key = {"agent_id": "a", "channel": "c", "account_id": "x", "peer_kind": "user"}
            made = await client.call_tool(
                "get_or_create_session", {**key, "peer_id": "p", "title": STRIPE.text}
            )
            made_data = made.structured_content
            assert made_data is not None and made_data["created"] is True, made_data
            assert made_data["redacted"] == {"stripe-key": 1}
            assert STRIPE.secrets[0] not in json.dumps(made_data)
            found = await client.call_tool(
                "get_or_create_session", {**key, "peer_id": "p", "title": STRIPE.text}
            )
            assert found.structured_content is not None
            assert found.structured_content["created"] is False
            assert found.structured_content["redacted"] == {}  # nothing written
            plain = await client.call_tool("get_or_create_session", {**key, "peer_id": "q"})
            assert plain.structured_content is not None
            assert plain.structured_content["redacted"] == {}
            search = await client.call_tool("search_messages", {"query": STRIPE.secrets[0][:20]})
            assert search.structured_content is not None
            assert STRIPE.secrets[0] not in json.dumps(search.structured_content)
    finally:
        app.close()
