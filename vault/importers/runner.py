"""`run_import`: read a source, write its sessions through the vault, report what happened.

Writing is append-only and idempotent (docs/import.md):

- a new session is created with all its messages and its frontmatter, in one write;
- an existing session gets only the source messages after the last one it holds, in one
  `append_messages` call; a second import of the same source writes no byte;
- the file is never rewritten: a message a person edited or deleted stays as they left it
  (deleted ones are reported, not restored), and a source message whose text changed since
  it was imported is reported in `changed_after_import`, not rewritten.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from ..errors import InvalidInput, SessionDeleted, SessionNotFound, VaultError
from ..redaction import Redactions
from ..session_file import format_ts, utc_now
from ..vault import Vault
from . import chatgpt, claude_ai
from .claude_code_sessions import find_groups, group_sessions, project_folders
from .common import SessionDraft, Skip, clean_fields, is_record_skip, record_count
from .provenance import portable_fields, portable_message
from .sources import open_exports

__all__ = ("SOURCES", "ImportReport", "Source", "run_import")

Source = Literal["claude-code", "claude-ai", "chatgpt"]
SOURCES: tuple[Source, ...] = ("claude-code", "claude-ai", "chatgpt")
Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What an import did. Session ids by outcome; `skipped` holds (what, reason) pairs,
    reported apart as whole sources and as records (`to_dict`); `changed_after_import`
    holds (session id, message id) pairs."""

    source: str
    dry_run: bool = False
    created: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    messages_added: int = 0
    seconds: float = 0.0
    changed_after_import: list[tuple[str, str]] = field(default_factory=list)
    redacted: Redactions = field(default_factory=Redactions)
    """Secrets replaced by markers in what was written (or, in a dry run, would be)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary with stable keys (the CLI's `--json`)."""
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "created": len(self.created),
            "grown": len(self.grown),
            "unchanged": len(self.unchanged),
            "messages_added": self.messages_added,
            "skipped_sources": [
                {"what": what, "reason": why}
                for what, why in self.skipped
                if not is_record_skip((what, why))
            ],
            "skipped_records": [
                {"what": what, "reason": why, "count": record_count(why)}
                for what, why in self.skipped
                if is_record_skip((what, why))
            ],
            "changed_after_import": [
                {"session_id": s, "message_id": m} for s, m in self.changed_after_import
            ],
            "redacted": self.redacted.to_dict(),
            "sessions": {
                "created": list(self.created),
                "grown": list(self.grown),
                "unchanged": list(self.unchanged),
            },
            "seconds": round(self.seconds, 3),
        }


def run_import(
    vault: Vault,
    source: Source,
    paths: list[Path],
    *,
    all_projects: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ImportReport:
    """Import conversations from `source` into `vault`.

    Args:
        source: `claude-code` (transcript files or folders; none given: the current
            project's transcripts under `$CLAUDE_CONFIG_DIR/projects` or
            `~/.claude/projects`), `claude-ai` or `chatgpt` (`conversations.json`, a
            single-conversation JSON file, or the export `.zip`).
        all_projects: claude-code without paths: every project folder, not just this one.
        dry_run: read and compare, but write nothing.
        progress: called with (bytes done, bytes total) as sources are read.
        clock: the time written as `imported_at` (tests pass a fixed one).
    """
    if source not in SOURCES:
        raise InvalidInput(f"Unknown import source {source!r}", field="source")
    started = time.monotonic()
    imported_at = format_ts((clock or utc_now)())
    report = ImportReport(source, dry_run)
    writer = _Writer(vault, report, dry_run)
    if source == "claude-code":
        _claude_code(vault, paths, all_projects, imported_at, report, writer, progress)
    else:
        _exports(source, paths, imported_at, report, writer, progress)
    report.seconds = time.monotonic() - started
    return report


def _claude_code(
    vault: Vault,
    paths: list[Path],
    all_projects: bool,
    imported_at: str,
    report: ImportReport,
    writer: _Writer,
    progress: Progress | None,
) -> None:
    if not paths:
        paths = project_folders(vault.root, all_projects, report.skipped)
    groups = find_groups([Path(p).expanduser() for p in paths], report.skipped)
    total = sum(_size(f) for g in groups for f in g.files())
    done = 0
    for group in groups:
        try:
            for draft in group_sessions(group, imported_at, report.skipped):
                writer.write(draft)
        except OSError as exc:
            report.skipped.append((str(group.main or group.stem), f"cannot read: {exc}"))
        done += sum(_size(f) for f in group.files())
        if progress is not None:
            progress(done, total)


def _exports(
    source: Source,
    paths: list[Path],
    imported_at: str,
    report: ImportReport,
    writer: _Writer,
    progress: Progress | None,
) -> None:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if path.is_dir():
            found = sorted(path.glob("conversations.json")) + sorted(path.glob("*.zip"))
            if not found:
                report.skipped.append((str(path), "no conversations.json or .zip in this folder"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            report.skipped.append((str(path), "no such file or folder"))
    if not paths:
        report.skipped.append((source, "give the export's conversations.json or .zip"))
    total = sum(_export_size(f) for f in files)
    done = 0
    for path in files:
        try:
            for export in open_exports(path, report.skipped):
                for draft in _sessions(source, export, imported_at, report.skipped):
                    writer.write(draft)
                    if progress is not None:
                        progress(done + export.stream.count, total)
                done += export.size
        except OSError as exc:
            report.skipped.append((str(path), f"cannot read: {exc}"))
        if progress is not None:
            progress(done, total)


def _sessions(
    source: Source, export: Any, imported_at: str, skipped: list[Skip]
) -> Iterator[SessionDraft]:
    if source == "claude-ai":
        return claude_ai.export_sessions(export, imported_at, skipped)
    return chatgpt.export_sessions(export, imported_at, skipped)


class _Writer:
    def __init__(self, vault: Vault, report: ImportReport, dry_run: bool) -> None:
        self.vault = vault
        self.report = report
        self.dry_run = dry_run
        self.known: set[str] | None = None

    def write(self, draft: SessionDraft) -> None:
        sid, report = draft.session_id, self.report
        if self.known is None:
            # One scan for the whole run: looking up a missing id re-lists every folder.
            self.known = set(self.vault.session_ids())
        if sid not in self.known:
            self.known.add(sid)
            self._append(draft, draft.messages, "created")
            return
        try:
            existing = self.vault.get(sid)
        except SessionNotFound:
            existing = None
        except SessionDeleted:
            report.skipped.append((sid, "deleted in this vault (in the trash); not re-imported"))
            return
        except VaultError as exc:
            report.skipped.append((sid, f"{exc.code}: {exc.message}"))
            return
        if existing is None:
            self._append(draft, draft.messages, "created")
            return
        held = {m.id: m for m in existing.messages}
        last = max((i for i, m in enumerate(draft.messages) if m.id in held), default=-1)
        # (last is -1 when the draft shares no message with the file, e.g. a fragment of the
        # same conversation in another export file: nothing before it can be gone)
        gone = [m for m in draft.messages[: max(last, 0)] if m.id not in held]
        if gone:
            report.skipped.append(
                (
                    sid,
                    f"{len(gone)} imported message(s) no longer in the session file "
                    f"(removed by hand?) are not restored, e.g. {gone[0].id}",
                )
            )
        redactor = self.vault.redactor()
        for message in draft.messages[: last + 1]:
            old = held.get(message.id)
            if old is None or old.edited or old.content == message.content:
                continue
            # The file holds the redacted text: compare with the source's, redacted.
            if old.content != redactor.text(message.content, Redactions()):
                report.changed_after_import.append((sid, message.id))
        new = [m for m in draft.messages[last + 1 :] if m.id not in held]
        if new:
            self._append(draft, new, "grown")
        else:
            self._note("unchanged", sid)

    def _append(self, draft: SessionDraft, messages: list[Any], outcome: str) -> None:
        sid = draft.session_id
        messages = [portable_message(m) for m in messages]
        written: Iterable[Any] = messages
        if self.dry_run:
            redactor = self.vault.redactor()
            for message in messages:
                redactor.message(message, self.report.redacted)
        else:
            try:
                _, created, written = self.vault.append_messages(
                    sid,
                    messages,
                    new_session=portable_fields(clean_fields(draft.fields)),
                    redacted=self.report.redacted,
                )
            except (VaultError, OSError, ValueError) as exc:
                code = (
                    exc.code
                    if isinstance(exc, VaultError)
                    else "FILE_WRITE_ERROR"
                    if isinstance(exc, OSError)
                    else "INVALID_INPUT"
                )
                self.report.skipped.append((sid, f"{code}: {exc}"))
                return
            outcome = "created" if created else ("grown" if written else "unchanged")
        self.report.messages_added += len(list(written))
        self._note(outcome, sid)

    def _note(self, outcome: str, sid: str) -> None:
        report = self.report
        if sid in report.created or sid in report.grown:
            return
        if outcome != "unchanged" and sid in report.unchanged:
            report.unchanged.remove(sid)
        if sid not in report.unchanged:
            getattr(report, outcome).append(sid)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _export_size(path: Path) -> int:
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                return sum(
                    i.file_size
                    for i in archive.infolist()
                    if PurePosixPath(i.filename).name == "conversations.json"
                )
        except (zipfile.BadZipFile, OSError):
            return 0
    return _size(path)
