"""Re-importing into a vault written before tool calls and thinking were shown.

`v1/cc-tool_heavy.md` is the file the previous version wrote for
tests/fixtures/claude_code/marot-spotter/tool_heavy.jsonl (`<FIXTURES>` stands for that
folder): no thinking or tool-call views, and a message for the record that holds only
blank text. What re-importing does with it: nothing. Growing it: the new messages are
appended with their views, the old blocks stay byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

from vault import Vault
from vault.importers import run_import

from .conftest import SPOTTER, clock

OLD = Path(__file__).parent / "v1" / "cc-tool_heavy.md"
SOURCE = SPOTTER / "tool_heavy.jsonl"
NAME = "2026-02-10/session-20260210-225754-start-phoenix-in-background.md"


def _old_vault(vault: Vault, source_dir: Path) -> Path:
    path = vault.sessions_dir / NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OLD.read_text(encoding="utf-8").replace("<FIXTURES>", str(source_dir)))
    return path


def test_reimport_over_an_old_file_writes_nothing_and_reports_nothing(vault: Vault) -> None:
    path = _old_vault(vault, SPOTTER)
    before = path.read_bytes()
    old = vault.get("cc-tool_heavy")
    blank = [m for m in old.messages if m.role == "assistant" and m.content == "\n\n"]
    assert len(blank) == 1 and not any(m.edited for m in old.messages)

    report = run_import(vault, "claude-code", [SOURCE], clock=clock)

    assert path.read_bytes() == before
    assert report.unchanged == ["cc-tool_heavy"] and report.messages_added == 0
    assert report.created == report.grown == [] and report.changed_after_import == []
    # The blank-text record is no longer imported, but the old message stays, unreported.
    assert not [why for what, why in report.skipped if what == "cc-tool_heavy"]
    assert vault.get("cc-tool_heavy") == old


def test_growing_an_old_file_appends_blocks_with_views(vault: Vault, tmp_path: Path) -> None:
    live = tmp_path / "src" / SOURCE.name
    live.parent.mkdir()
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[-1])
    call = {
        "type": "tool_use",
        "id": "toolu_grown",
        "name": "Edit",
        "input": {"file_path": "/srv/app/auth.py", "old_string": "a", "new_string": "b"},
    }
    grown = {
        **record,
        "type": "assistant",
        "uuid": "grown-1",
        "message": {"id": "msg_grown", "role": "assistant", "content": [call]},
    }
    live.write_bytes(b"".join(lines) + json.dumps(grown).encode() + b"\n")
    path = _old_vault(vault, live.parent)
    before = path.read_bytes()

    report = run_import(vault, "claude-code", [live], clock=clock)

    after = path.read_bytes()
    assert report.grown == ["cc-tool_heavy"] and report.messages_added == 1
    assert after.startswith(before)
    assert "> - 🔧 **Edit** `/srv/app/auth.py`" in after[len(before) :].decode()
    assert vault.get("cc-tool_heavy").messages[-1].metadata["toolCalls"][0]["name"] == "Edit"
