"""Appending to a session file, and what this process knows of the files it read.

Under the session's lock (taken by the caller), an append checks the file is the version
we last parsed (else re-reads it; never appends to a file that does not parse), cuts a
torn tail, writes the new blocks with one `O_APPEND` write and fsync, and checks the path
still names the inode written to: an editor may have replaced the file meanwhile, and then
it goes round again for what is not there (RELIABILITY.md §2).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import files
from .errors import (
    Conflict,
    MalformedSessionFile,
    SessionNotFound,
    SessionTooLarge,
    VaultError,
)
from .files import FileChanged, FileState
from .journal import Journal
from .lookup import SAVE_WAITS, Finder
from .session_file import Message, ParsedSession, end_marker, parse, render_message

__all__ = ("Appender",)

log = logging.getLogger("codearchitect.vault")

_RETRIES = 3
_HOT_NS = 2_000_000_000


@dataclass
class _Known:
    """What this process last saw of a session file, to append without re-reading it."""

    state: FileState
    session_id: str
    ids: set[str]
    last_id: str | None
    torn_offset: int | None


class Appender:
    """Reads and appends to session files, remembering each file's last parse."""

    def __init__(self, finder: Finder, journal: Journal, max_file_bytes: int) -> None:
        self.finder = finder
        self.journal = journal
        self.max_file_bytes = max_file_bytes
        self._known: dict[Path, _Known] = {}

    def read(self, path: Path) -> tuple[ParsedSession, bytes, FileState]:
        """Parse one session file; raises `MalformedSessionFile` or `SymlinkRefused`."""
        data, state = files.read_bytes(path)
        parsed = parse(data, path)
        self.remember(path, parsed, state)
        self.finder.catalog.parsed(path, state, parsed.session.id)
        return parsed, data, state

    def remember(self, path: Path, parsed: ParsedSession, state: FileState) -> None:
        messages = parsed.session.messages
        self._known[path] = _Known(
            state=state,
            session_id=parsed.session.id,
            ids={m.id for m in messages},
            last_id=messages[-1].id if messages else None,
            torn_offset=parsed.torn_offset,
        )

    def forget(self, path: Path) -> None:
        self._known.pop(path, None)

    def append(
        self, session_id: str, messages: list[Message], *, found: Path, journal: bool = True
    ) -> tuple[Path, FileState, list[Message]]:
        """Append the messages the file does not hold yet, in one write; returns those,
        with any this call wrote before an editor's save carried them into the file.

        The caller holds the session's lock; `found` is the session's file as it just
        located it under that lock (a retry locates it again).
        """
        path: Path | None = None
        # Written by an earlier attempt to a file an editor then replaced: if its save
        # carried them over, they are found in the file and acknowledged by this call.
        ours: dict[str, Message] = {}
        for attempt in range(_RETRIES + len(SAVE_WAITS)):
            try:
                path = found if attempt == 0 else self.finder.locate(session_id)
                known = self._current(path)
            except (SessionNotFound, MalformedSessionFile, FileNotFoundError):
                # Found under the lock a moment ago: unless the file is old, it is an
                # outside save in progress (truncated, or renamed away); wait for it.
                if path is None or attempt >= len(SAVE_WAITS) or not _hot(path):
                    raise
                time.sleep(SAVE_WAITS[attempt])
                continue
            if known.session_id != session_id:
                self.finder.catalog.drop(path)
                continue
            todo = list({m.id: m for m in messages if m.id not in known.ids}.values())
            if not todo:
                carried = list(ours.values())
                if journal:
                    self.journal.record(session_id, carried)
                return path, known.state, carried
            block = "".join(render_message(m) for m in todo).encode("utf-8")
            state = known.state
            if known.torn_offset is not None:
                log.warning("cutting a torn tail at byte %d of %s", known.torn_offset, path)
                try:
                    state = files.truncate_to(path, known.torn_offset, state)
                except FileChanged:
                    self.forget(path)
                    continue
            if state.size + len(block) > self.max_file_bytes:
                raise SessionTooLarge(
                    f"Session {session_id} would pass the {self.max_file_bytes} byte cap"
                )
            try:
                new_state = files.append_bytes(path, block, state)
            except (FileChanged, FileNotFoundError):
                self.forget(path)
                continue
            after = files.stat_file(path)
            if after is None or after.ino != new_state.ino or after.size != new_state.size:
                # An editor replaced the file while we wrote: our bytes went to the old inode,
                # unless the editor read them first. Go round again for what is not there.
                ours.update((m.id, m) for m in todo)
                self.forget(path)
                continue
            known.ids.update(m.id for m in todo)
            known.last_id = todo[-1].id
            known.state = new_state
            known.torn_offset = None
            self._known[path] = known
            # Our own write: the catalogue need not re-read the head to learn the id again.
            self.finder.catalog.put(path, new_state, session_id)
            fresh = {m.id for m in todo}
            written = [*todo, *(m for m in ours.values() if m.id not in fresh)]
            if journal:
                self.journal.record(session_id, written)
            return path, new_state, written
        raise Conflict(f"Session {session_id} kept changing while appending; try again")

    def _current(self, path: Path) -> _Known:
        """This process's knowledge of `path`, re-read if the file is not as last seen."""
        state = files.stat_file(path)
        if state is None:
            raise FileNotFoundError(str(path))
        known = self._known.get(path)
        if known is not None and known.state == state and self._tail_ok(path, known):
            return known
        self.read(path)
        return self._known[path]

    def _tail_ok(self, path: Path, known: _Known) -> bool:
        if known.last_id is None or known.torn_offset is not None:
            return known.torn_offset is None and known.last_id is None
        marker = (end_marker(known.last_id) + "\n").encode("ascii")
        try:
            return files.read_tail(path, known.state.size, len(marker)) == marker
        except (OSError, VaultError):
            return False  # read again in full: that raises what is wrong


def _hot(path: Path) -> bool:
    """Written in the last 2 s (or gone): maybe an outside save in progress."""
    try:
        st = os.lstat(path)
    except OSError:
        return True
    return time.time_ns() - st.st_mtime_ns < _HOT_NS
