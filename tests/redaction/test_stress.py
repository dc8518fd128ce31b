"""Redaction at a large size (`make stress`): a long Claude Code transcript full of secrets,
captured as it grows by several hook processes at once, then imported again."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vault import Vault
from vault.importers import run_import
from vault.redaction.scanning import scan_bytes

from . import transcripts

pytestmark = pytest.mark.stress

REPO = Path(__file__).resolve().parents[2]
HOOK = (
    "import sys; from vault.importers.capture import capture_claude_code; "
    "sys.exit(capture_claude_code(sys.stdin.read()))"
)


def _tree(vault: Vault) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in vault.sessions_dir.rglob("*.md")
    }


def test_a_growing_transcript_captured_concurrently_never_writes_a_secret(
    vault_root: Path,
) -> None:
    home = Path.home()
    path = home / ".claude" / "projects" / "-p" / f"{transcripts.SESSION}.jsonl"
    records = transcripts.records(str(home / "p"), rounds=400)
    path.parent.mkdir(parents=True)
    payload = json.dumps(
        {
            "session_id": transcripts.SESSION,
            "transcript_path": str(path),
            "cwd": str(vault_root),
            "hook_event_name": "Stop",
        }
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for cut in range(0, len(records) + 1, 150):
        path.write_text("".join(json.dumps(r) + "\n" for r in records[:cut]), encoding="utf-8")
        hooks = [
            subprocess.Popen(
                [sys.executable, "-c", HOOK],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            for _ in range(3)
        ]
        for hook in hooks:
            hook.communicate(payload.encode(), timeout=300)
            assert hook.returncode == 0
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    vault = Vault(vault_root)
    report = run_import(vault, "claude-code", [path])
    session = vault.get(f"cc-{transcripts.SESSION}")
    assert len(session.messages) == len(records)
    data = vault.locate(session.id).read_bytes()
    for secret in transcripts.SECRETS:
        assert secret.encode() not in data
    assert scan_bytes(data, vault.locate(session.id), vault.redactor()) == ([], True)
    before = _tree(vault)
    again = run_import(vault, "claude-code", [path])
    assert again.messages_added == 0 and _tree(vault) == before
    assert report.changed_after_import == [] and again.changed_after_import == []
