"""`codearchitect capture claude-code`: the Claude Code hook that imports the live transcript.

Claude Code runs the hook command with a JSON object on stdin (`session_id`,
`transcript_path`, `cwd`, `hook_event_name`, …). The hook finds the project root from
`cwd`, then imports that transcript and its subagent transcripts incrementally: only the
messages the vault does not hold yet are appended. It never raises, prints nothing (a hook's
stdout can be fed back into the conversation), always exits 0 so it can never block Claude
Code, and logs failures to `<root>/.codearchitect/capture.log`.

It imports only the vault (no MCP SDK, no index): check with
`python -X importtime -c 'import vault.importers.capture'`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..derived import claim_dir, claim_file, open_file
from ..errors import VaultError

__all__ = ("LOG_NAME", "capture_claude_code")

LOG_NAME = "capture.log"
_LOG_MAX_BYTES = 1024 * 1024


def capture_claude_code(stdin_text: str) -> int:
    """Import the transcript named by a Claude Code hook's stdin JSON; always returns 0."""
    sink = io.StringIO()
    root: Path | None = None
    event = "?"
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            handler = _QuietLogging()
            try:
                payload = _payload(stdin_text)
                event = str(payload.get("hook_event_name") or "?")
                root = _root(payload.get("cwd"))
                handler.root = root
                _capture(root, payload, event)
            except Exception as exc:
                _log(root or _root(None), event, f"{type(exc).__name__}: {exc}", exc)
            finally:
                handler.restore()
    except BaseException:  # a hook must never fail Claude Code
        with contextlib.suppress(BaseException):
            _log(root or _root(None), event, "unexpected failure", None)
    return 0


def _payload(stdin_text: str) -> dict[str, Any]:
    try:
        payload = json.loads(stdin_text)
    except ValueError as exc:
        raise ValueError(f"stdin is not hook JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError("stdin is not a JSON object")
    return payload


def _root(cwd: object) -> Path:
    from ..paths import find_project_root

    start = Path(cwd) if isinstance(cwd, str) and cwd and Path(cwd).is_dir() else Path.cwd()
    return find_project_root(cwd=start).path


def _capture(root: Path, payload: dict[str, Any], event: str) -> None:
    from ..vault import Vault
    from .common import is_noise
    from .runner import run_import

    transcript = payload.get("transcript_path")
    if not isinstance(transcript, str) or not transcript:
        raise ValueError("hook JSON has no transcript_path")
    path = Path(transcript).expanduser()
    if not path.is_file():
        if event == "SessionStart":
            return  # Claude Code writes the transcript with the first message
        raise FileNotFoundError(f"transcript not found: {path}")
    report = run_import(Vault(root), "claude-code", [path])
    problems = [
        (what, why)
        for what, why in report.skipped
        if not is_noise(why) and not why.startswith("incomplete last line")
    ]
    for what, why in problems[:20]:
        _log(root, event, f"skipped {what}: {why}", None)


def _log(root: Path, event: str, message: str, exc: BaseException | None) -> None:
    """Append one line (plus a traceback for unexpected errors) to capture.log."""
    with contextlib.suppress(OSError, VaultError):
        folder = root / ".codearchitect"
        claim_dir(folder, folder)  # a linked `.codearchitect/` is refused
        log = folder / LOG_NAME
        claim_file(log)  # a planted link, folder or FIFO is replaced, never followed
        with contextlib.suppress(FileNotFoundError):
            if os.lstat(log).st_size > _LOG_MAX_BYTES:
                os.replace(log, folder / f"{LOG_NAME}.1")  # replaces the entry, not a target
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = f"{stamp} capture claude-code [{event}] {message.replace(chr(10), ' ')}\n"
        if exc is not None and not isinstance(exc, ValueError | FileNotFoundError):
            detail = "".join(traceback.format_exception(exc)).rstrip()
            text += "".join(f"    {line}\n" for line in detail.splitlines())
        fd = open_file(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, text.encode("utf-8", "replace"))
        finally:
            os.close(fd)


class _QuietLogging:
    """Route the vault's log records to capture.log instead of stderr while capturing."""

    def __init__(self) -> None:
        self.root: Path | None = None
        self.logger = logging.getLogger("codearchitect")
        self.saved = (self.logger.propagate, list(self.logger.handlers))
        self.logger.propagate = False
        self.logger.handlers = [_ToCaptureLog(self)]

    def restore(self) -> None:
        self.logger.propagate, self.logger.handlers = self.saved[0], self.saved[1]


class _ToCaptureLog(logging.Handler):
    def __init__(self, owner: _QuietLogging) -> None:
        super().__init__(logging.WARNING)
        self.owner = owner

    def emit(self, record: logging.LogRecord) -> None:
        if self.owner.root is not None:
            _log(self.owner.root, record.name, record.getMessage(), None)
