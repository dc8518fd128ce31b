"""The capture hook, run as Claude Code runs it: a process fed hook JSON on stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vault import Vault

from .conftest import MAIN_4D, SPOTTER, SPOTTER_FULL, cc_expected_messages

REPO = Path(__file__).resolve().parents[2]
HOOK = (
    "import sys; from vault.importers.capture import capture_claude_code; "
    "sys.exit(capture_claude_code(sys.stdin.read()))"
)


def _hook(stdin: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", HOOK],
        input=stdin.encode(),
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


def _payload(transcript: Path, cwd: Path, event: str = "Stop") -> str:
    return json.dumps(
        {
            "session_id": transcript.stem,
            "transcript_path": str(transcript),
            "cwd": str(cwd),
            "hook_event_name": event,
        }
    )


@pytest.mark.shared_data
def test_capture_imports_a_growing_transcript(vault_root: Path, tmp_path: Path) -> None:
    work = vault_root / "src" / "deep"
    work.mkdir(parents=True)
    lines = MAIN_4D.read_bytes().splitlines(keepends=True)
    transcript = tmp_path / "claude" / "projects" / "p" / MAIN_4D.name
    transcript.parent.mkdir(parents=True)
    subagents = transcript.with_suffix("") / "subagents"
    subagents.mkdir(parents=True)
    transcript.write_bytes(b"".join(lines[:300]) + lines[300][:40])  # mid-write
    first = _hook(_payload(transcript, work, "PostToolUse"), cwd=tmp_path)
    assert (first.returncode, first.stdout, first.stderr) == (0, b"", b"")
    vault = Vault(vault_root)
    sid = f"cc-{MAIN_4D.stem}"
    path = vault.locate(sid)
    old = path.read_bytes()
    assert not (vault_root / ".codearchitect" / "capture.log").exists()
    for sub in sorted((SPOTTER_FULL / MAIN_4D.stem / "subagents").glob("*.jsonl")):
        (subagents / sub.name).write_bytes(sub.read_bytes())
    transcript.write_bytes(b"".join(lines))
    second = _hook(_payload(transcript, work), cwd=tmp_path)
    assert (second.returncode, second.stdout, second.stderr) == (0, b"", b"")
    new = path.read_bytes()
    assert new.startswith(old) and len(new) > len(old)
    assert len(vault.get(sid).messages) == cc_expected_messages(MAIN_4D)
    assert vault.get(f"{sid}-agent-a2898e3").metadata["parentSession"] == sid
    third = _hook(_payload(transcript, work), cwd=tmp_path)
    assert third.returncode == 0 and path.read_bytes() == new


def test_broken_stdin_exits_0_silently_and_logs(vault_root: Path) -> None:
    for stdin in ("not json at all", "[1, 2]", json.dumps({"cwd": str(vault_root)})):
        result = _hook(stdin, cwd=vault_root)
        assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    log = (vault_root / ".codearchitect" / "capture.log").read_text().splitlines()
    assert len(log) == 3
    assert "stdin is not hook JSON" in log[0]
    assert "no transcript_path" in log[2]


def test_missing_transcript_is_logged(vault_root: Path, tmp_path: Path) -> None:
    result = _hook(_payload(tmp_path / "gone.jsonl", vault_root), cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    log = (vault_root / ".codearchitect" / "capture.log").read_text()
    assert "transcript not found" in log
    start = _hook(_payload(tmp_path / "new.jsonl", vault_root, "SessionStart"), cwd=tmp_path)
    assert (start.returncode, start.stdout, start.stderr) == (0, b"", b"")
    assert (vault_root / ".codearchitect" / "capture.log").read_text() == log


def test_capture_imports_no_heavy_modules() -> None:
    code = (
        "import sys, vault.importers.capture; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'mcp', 'tantivy', 'indexer', 'mcp_server', 'pydantic', 'watchdog', 'click', 'rich'}))"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_the_capture_command_loads_neither_the_command_line_nor_the_server(
    vault_root: Path, tmp_path: Path
) -> None:
    """`codearchitect capture claude-code`, the command Claude Code runs per hook event,
    goes straight to the hook (mcp_server.cli): no click, no command modules, no SDK, no
    index; and it captures."""
    transcript = tmp_path / "t" / "short.jsonl"
    transcript.parent.mkdir()
    transcript.write_bytes((SPOTTER / "short.jsonl").read_bytes())
    exe = Path(sys.executable).parent / "codearchitect"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(exe), "capture", "claude-code"],
        input=_payload(transcript, vault_root).encode(),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, b"")
    loaded = {
        line.split("|")[-1].strip()
        for line in done.stderr.decode().splitlines()
        if line.startswith("import time:")
    }
    heavy = {"click", "rich", "mcp", "mcp_types", "pydantic", "indexer", "tantivy", "anyio"}
    assert loaded and not {m.split(".")[0] for m in loaded} & heavy
    assert "mcp_server.commands" not in loaded
    assert Vault(vault_root).locate(f"cc-{transcript.stem}").is_file()
    assert not (vault_root / ".codearchitect" / "capture.log").exists()
