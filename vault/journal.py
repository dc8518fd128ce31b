"""The ack journal: every acknowledged message, kept 7 days, to catch silent loss.

An editor that saves a stale buffer can remove messages that were acknowledged after it
loaded the file. The session file alone cannot tell; the journal can. Each acknowledged
message is appended as one JSON line to `.codearchitect/journal/YYYY-MM-DD.jsonl` (mode
0600, git-ignored). `missing()` lists journal entries no longer in their session's file
(reported as `ACKED_MISSING`); nothing is restored unless asked.

The journal is written after the session file's fsync, without an fsync of its own: the
file is the durable copy; the journal is a detector for later outside edits.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .derived import claim_dir, open_dir, open_file, read_file
from .errors import VaultError
from .files import FILE_MODE, checksum
from .session_file import Message

__all__ = ("Journal", "JournalEntry")

log = logging.getLogger("codearchitect.journal")

KEEP_DAYS = 7


@dataclass(frozen=True)
class JournalEntry:
    session_id: str
    message: Message
    sha256: str
    acked_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "message_id": self.message.id,
            "role": self.message.role,
            "created_at": self.message.created_at,
            "sha256": self.sha256,
            "acked_at": self.acked_at,
        }


class Journal:
    def __init__(self, folder: Path, stop: Path) -> None:
        self.folder = folder
        self._stop = stop

    def record(self, session_id: str, messages: tuple[Message, ...] | list[Message]) -> None:
        """Append acknowledged messages; a failure here is logged, never raised."""
        if not messages:
            return
        now = datetime.now(UTC)
        lines = []
        for message in messages:
            lines.append(
                json.dumps(
                    {
                        "session_id": session_id,
                        "id": message.id,
                        "role": message.role,
                        "created_at": message.created_at,
                        "content": message.content,
                        "metadata": message.metadata,
                        "sha256": checksum(message.content.encode("utf-8")),
                        "acked_at": now.isoformat(timespec="milliseconds"),
                    },
                    ensure_ascii=False,
                )
            )
        self._append(lines, now)

    def _append(self, lines: list[str], now: datetime) -> None:
        data = ("\n".join(lines) + "\n").encode("utf-8")
        try:
            claim_dir(self.folder, self._stop)
            path = self.folder / f"{now:%Y-%m-%d}.jsonl"
            fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except Exception:
            log.warning("could not write the ack journal in %s", self.folder, exc_info=True)

    def forget(self, message_ids: list[str]) -> None:
        """Record deletions made through the vault, so they are not reported as missing."""
        self._append([json.dumps({"deleted": mid}) for mid in message_ids], datetime.now(UTC))

    def entries(self) -> Iterator[JournalEntry]:
        """Every live journal entry, oldest first (unreadable lines are skipped)."""
        deleted: set[str] = set()
        found: list[JournalEntry] = []
        for raw in self._lines():
            if "deleted" in raw:
                deleted.add(str(raw["deleted"]))
                continue
            try:
                message = Message(
                    raw["id"],
                    raw["role"],
                    raw["content"],
                    raw["created_at"],
                    raw.get("metadata") or {},
                )
                found.append(
                    JournalEntry(raw["session_id"], message, raw["sha256"], raw["acked_at"])
                )
            except (KeyError, TypeError):
                continue
        for entry in found:
            if entry.message.id not in deleted:
                yield entry

    def _lines(self) -> Iterator[dict[str, Any]]:
        for name in self._names():
            data = read_file(self.folder / name)  # a link or a FIFO there is skipped
            if data is None:
                continue
            for line in data.decode("utf-8", errors="replace").splitlines():
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue
                if isinstance(raw, dict):
                    yield raw

    def prune(self, keep_days: int = KEEP_DAYS) -> None:
        cutoff = time.time() - keep_days * 86400
        for name in self._names():
            path = self.folder / name
            try:
                if os.lstat(path).st_mtime < cutoff:
                    path.unlink()  # a link is unlinked, never its target
            except OSError:
                continue

    def _names(self) -> list[str]:
        """The `*.jsonl` names in the journal folder, if it is a real folder."""
        try:
            with open_dir(self.folder) as fd:
                return sorted(n for n in os.listdir(fd) if n.endswith(".jsonl"))
        except (OSError, VaultError):
            return []
