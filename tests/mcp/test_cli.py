"""The `codearchitect` command line, through click's runner on a real project folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcp_server.cli import cli
from tests.helpers.data import FIXTURES
from vault import Vault


@pytest.fixture
def project(vault_root: Path) -> Path:
    vault = Vault(vault_root)
    vault.store_session(
        "User: How do we rotate JWT keys?\nAI: Keep two keys, rotate weekly.", topic="JWT keys"
    )
    vault.append_message("auth-work", "user", "the flaky login test again")
    return vault_root


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_init_creates_the_vault(vault_root: Path) -> None:
    code, out = run("init", "--root", str(vault_root))
    assert code == 0
    assert (vault_root / ".codearchitect" / "sessions").is_dir()
    assert (vault_root / ".codearchitect" / ".gitignore").is_file()
    assert "vault ready" in out


def test_search_json_is_stable_and_filters_apply(project: Path) -> None:
    code, out = run("search", "rotate", "--root", str(project), "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"hits", "total", "stale", "mode"}
    assert data["total"] == 2
    assert set(data["hits"][0]) == {
        "message_id",
        "session_id",
        "session_title",
        "role",
        "created_at",
        "score",
        "snippet",
        "highlights",
        "found_by",
    }
    code, out = run("search", "rotate", "--root", str(project), "--json", "--role", "assistant")
    assert [h["role"] for h in json.loads(out)["hits"]] == ["assistant"]
    code, out = run("search", "flaky", "--root", str(project))
    assert code == 0
    assert "1 of 1 matches" in out


def test_search_syntax_error_is_a_clean_error(project: Path) -> None:
    code, out = run("search", "   ", "--root", str(project))  # nothing to search for
    assert code == 1
    assert "[INVALID_QUERY]" in out
    assert "Traceback" not in out


def test_sessions_show_stats_doctor(project: Path) -> None:
    code, out = run("sessions", "--root", str(project), "--json")
    assert code == 0
    rows = json.loads(out)
    assert {r["id"] for r in rows} >= {"auth-work"}
    assert len(rows) == 2

    code, out = run("show", "auth-work", "--root", str(project))
    assert code == 0
    assert "the flaky login test again" in out

    code, out = run("show", "nope", "--root", str(project))
    assert code == 1 and "[SESSION_NOT_FOUND]" in out

    code, out = run("stats", "--root", str(project), "--json")
    assert json.loads(out)["messages"] == 3

    code, out = run("doctor", "--root", str(project))
    assert code == 0 and "ok" in out


def test_doctor_reports_malformed_and_lost_messages_and_restore(project: Path) -> None:
    vault = Vault(project)
    path = vault.locate("auth-work")
    stale = path.read_bytes()
    lost = vault.append_message("auth-work", "assistant", "an acknowledged answer")
    path.write_bytes(stale)  # an editor saved a stale buffer
    broken = vault.sessions_dir / "2020-01-01"
    broken.mkdir()
    (broken / "session-20200101-000000-bad.md").write_text("---\nid: [broken\n---\n")

    code, out = run("doctor", "--root", str(project))
    assert code == 1
    assert "MALFORMED_SESSION_FILE" in out and "session-20200101-000000-bad.md" in out
    assert f"ACKED_MISSING {lost.message.id}" in out

    code, out = run("restore", lost.message.id, "--root", str(project))
    assert code == 0
    assert lost.message.id in {m.id for m in vault.get("auth-work").messages}
    code, out = run("search", "acknowledged", "--root", str(project), "--json")
    assert json.loads(out)["total"] == 1


def test_reindex_rebuilds_from_files(project: Path) -> None:
    import shutil

    run("stats", "--root", str(project))
    shutil.rmtree(project / ".codearchitect" / "index")
    code, out = run("reindex", "--root", str(project))
    assert code == 0
    assert "2 sessions, 3 messages" in out
    code, out = run("search", "flaky", "--root", str(project), "--json")
    assert json.loads(out)["total"] == 1


def test_project_registry(tmp_path: Path, vault_root: Path) -> None:
    code, out = run("project", "add", "web", str(vault_root))
    assert code == 0
    code, out = run("project", "list", "--json")
    assert json.loads(out) == {"web": str(vault_root.resolve())}
    code, out = run("project", "remove", "web")
    assert code == 0
    code, out = run("project", "remove", "web")
    assert code == 1 and "PROJECT_NOT_FOUND" in out
    assert json.loads(run("project", "list", "--json")[1]) == {}


def test_every_command_has_help_with_an_example() -> None:
    def walk(group, prefix=()):
        for name, command in group.commands.items():
            yield (*prefix, name), command
            if hasattr(command, "commands"):
                yield from walk(command, (*prefix, name))

    for path, command in walk(cli):
        code, out = run(*path, "--help")
        assert code == 0, path
        if not hasattr(command, "commands"):
            assert "Example:" in out, f"{' '.join(path)} has no example"


DATA = FIXTURES


def test_import_chatgpt_export_then_search_at_once(vault_root: Path) -> None:
    export = DATA / "chatgpt" / "realazthat-chatgpt2graph" / "conversations.json"
    code, out = run("import", "chatgpt", str(export), "--root", str(vault_root), "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["created"] == 1 and first["messages_added"] > 10
    code, out = run("search", "distance", "--root", str(vault_root), "--json")
    assert json.loads(out)["total"] > 0
    before = {p: p.read_bytes() for p in (vault_root / ".codearchitect" / "sessions").rglob("*.md")}
    code, out = run("import", "chatgpt", str(export), "--root", str(vault_root), "--json")
    again = json.loads(out)
    assert (again["created"], again["unchanged"], again["messages_added"]) == (0, 1, 0)
    after = {p: p.read_bytes() for p in (vault_root / ".codearchitect" / "sessions").rglob("*.md")}
    assert after == before


def test_import_dry_run_writes_nothing(vault_root: Path) -> None:
    export = DATA / "claude_ai" / "codearchitect-bulk-export" / "conversations.json"
    code, out = run("import", "claude-ai", str(export), "--root", str(vault_root), "--dry-run")
    assert code == 0
    assert "[dry run]" in out
    assert not list(vault_root.rglob("*.md"))


def test_capture_command_as_claude_code_runs_it(vault_root: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    source = DATA / "claude_code" / "marot-spotter" / "short.jsonl"
    transcript = tmp_path / "t.jsonl"
    lines = source.read_text().splitlines(keepends=True)
    transcript.write_text("".join(lines[:8]))
    exe = Path(sys.executable).parent / "codearchitect"
    hook = json.dumps(
        {
            "session_id": "s",
            "transcript_path": str(transcript),
            "cwd": str(vault_root),
            "hook_event_name": "Stop",
        }
    )

    def capture() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe), "capture", "claude-code"],
            input=hook,
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = capture()
    assert first.returncode == 0 and first.stdout == ""
    files = list((vault_root / ".codearchitect" / "sessions").rglob("*.md"))
    assert len(files) == 1
    grown_from = files[0].read_bytes()
    transcript.write_text("".join(lines))
    second = capture()
    assert second.returncode == 0 and second.stdout == ""
    assert files[0].read_bytes().startswith(grown_from)
    assert len(files[0].read_bytes()) > len(grown_from)
    broken = subprocess.run(
        [str(exe), "capture", "claude-code"],
        input="{not json",
        cwd=vault_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert broken.returncode == 0 and broken.stdout == ""
    assert "stdin is not hook JSON" in (vault_root / ".codearchitect" / "capture.log").read_text()
