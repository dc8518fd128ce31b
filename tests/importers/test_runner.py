"""run_import's write rules: append-only, hand edits kept, source changes reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vault import InvalidInput, Vault
from vault.importers import ImportReport, run_import

from .conftest import SPOTTER, cc_expected_messages, clock, tree_hash

SHORT = SPOTTER / "short.jsonl"
GROWING = SPOTTER / "subagent.jsonl"


def _grow(tmp_path: Path, cut: int) -> tuple[Path, list[bytes]]:
    lines = GROWING.read_bytes().splitlines(keepends=True)
    live = tmp_path / "src" / GROWING.name
    live.parent.mkdir(exist_ok=True)
    live.write_bytes(b"".join(lines[:cut]))
    return live, lines


def test_hand_edited_file_is_never_overwritten(vault: Vault, tmp_path: Path) -> None:
    live, lines = _grow(tmp_path, 60)
    run_import(vault, "claude-code", [live], clock=clock)
    sid = f"cc-{GROWING.stem}"
    path = vault.locate(sid)
    first = vault.get(sid).messages[0]
    edited = path.read_text().replace(first.content, "My own words instead.", 1)
    edited = edited.replace("\n# ", "\nA note typed by a person.\n\n# ", 1)
    path.write_text(edited)
    live.write_bytes(b"".join(lines))
    report = run_import(vault, "claude-code", [live], clock=clock)
    assert report.grown == [sid] and report.changed_after_import == []
    after = path.read_text()
    assert after.startswith(edited)
    assert vault.get(sid).messages[0].content == "My own words instead."


def test_source_change_after_import_is_reported_not_rewritten(vault: Vault, tmp_path: Path) -> None:
    src = tmp_path / "short.jsonl"
    src.write_bytes(SHORT.read_bytes())
    run_import(vault, "claude-code", [src], clock=clock)
    before = tree_hash(vault)
    records = [json.loads(x) for x in src.read_text().splitlines()]
    target = next(
        r for r in records if r.get("type") == "user" and isinstance(r["message"]["content"], str)
    )
    target["message"]["content"] = "a different prompt"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = run_import(vault, "claude-code", [src], clock=clock)
    assert report.changed_after_import == [("cc-short", target["uuid"])]
    assert report.to_dict()["changed_after_import"] == [
        {"session_id": "cc-short", "message_id": target["uuid"]}
    ]
    assert tree_hash(vault) == before


def test_message_deleted_by_hand_is_not_restored(vault: Vault, tmp_path: Path) -> None:
    src = tmp_path / "short.jsonl"
    src.write_bytes(SHORT.read_bytes())
    run_import(vault, "claude-code", [src], clock=clock)
    session = vault.get("cc-short")
    vault.delete_message("cc-short", session.messages[1].id)
    before = tree_hash(vault)
    report = run_import(vault, "claude-code", [src], clock=clock)
    assert report.unchanged == ["cc-short"]
    assert any("not restored" in why for what, why in report.skipped if what == "cc-short")
    assert tree_hash(vault) == before


def test_dry_run_writes_nothing(vault: Vault) -> None:
    report = run_import(vault, "claude-code", [SPOTTER], dry_run=True, clock=clock)
    files = sorted(SPOTTER.glob("*.jsonl"))
    assert len(report.created) == len(files) == 3
    assert report.messages_added == sum(cc_expected_messages(f) for f in files)
    assert not vault.dir.exists()
    assert report.to_dict()["dry_run"] is True


def test_report_keys_and_progress(vault: Vault) -> None:
    calls: list[tuple[int, int]] = []
    report = run_import(vault, "claude-code", [SPOTTER], progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1] == sum(
        f.stat().st_size for f in SPOTTER.glob("*.jsonl")
    )
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    data = report.to_dict()
    assert list(data) == [
        "source",
        "dry_run",
        "created",
        "grown",
        "unchanged",
        "messages_added",
        "skipped_sources",
        "skipped_records",
        "changed_after_import",
        "redacted",
        "sessions",
        "seconds",
    ]
    assert data["created"] == 3 and isinstance(report, ImportReport)
    json.dumps(data)


def test_unknown_source_is_invalid_input(vault: Vault) -> None:
    with pytest.raises(InvalidInput):
        run_import(vault, "slack", [])  # type: ignore[arg-type]


def test_deleted_session_is_not_reimported(vault: Vault) -> None:
    run_import(vault, "claude-code", [SHORT], clock=clock)
    vault.delete("cc-short")
    report = run_import(vault, "claude-code", [SHORT], clock=clock)
    assert report.created == [] and report.skipped[-1][0] == "cc-short"


def test_json_report_keeps_skipped_sources_apart_from_skipped_records(
    vault: Vault, tmp_path: Path
) -> None:
    """A conversation that is not imported is a skipped source; a message of an imported
    conversation and records that are not messages are skipped records, with a count."""
    export = tmp_path / "conversations.json"
    message = {
        "uuid": "m1",
        "sender": "human",
        "text": "hello",
        "created_at": "2025-01-15T10:00:00Z",
    }
    odd = {"uuid": "m2", "sender": "robot", "text": "?", "created_at": "2025-01-15T10:01:00Z"}
    export.write_text(
        json.dumps(
            [
                {"uuid": "c1", "name": "kept", "chat_messages": [message, odd]},
                {"name": "no uuid", "chat_messages": [message]},
            ]
        )
    )
    data = run_import(vault, "claude-ai", [export], clock=clock).to_dict()
    assert data["created"] == 1
    assert [s["reason"] for s in data["skipped_sources"]] == [
        "claude.ai conversation without a uuid"
    ]
    assert [(s["reason"], s["count"]) for s in data["skipped_records"]] == [
        ("unknown sender 'robot'", 1)
    ]
    transcript = run_import(vault, "claude-code", [SHORT], clock=clock).to_dict()
    assert transcript["skipped_sources"] == []
    counted = [s for s in transcript["skipped_records"] if s["count"] > 1]
    assert counted and all("record(s) are not messages" in s["reason"] for s in counted)
    assert all(str(s["count"]) in s["reason"] for s in counted)
