"""Keeping the mirror in step with the files: one path, a whole reconcile, a rebuild.

A file is re-read only when its (inode, size, mtime) differ from the mirror's record, or
when that record is "racy" (the file changed within `RACY_NS` of being indexed, so a
second write in the same timestamp tick could hide) or has no hash (an in-process append
recorded without re-reading the file). A re-read compares the sha256 first, so a write
we already applied costs a read and a hash, not a parse. When the bytes we parsed last
time are still a prefix of the file (the normal case: appends), only the tail is parsed.

Every write to the mirror is anchored: inside the write transaction the file is stat'ed
again and the mirror row re-read, and if either moved since we read them the result is
discarded and the path retried, so a slow parse never overwrites a newer state.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vault import (
    Appended,
    FileState,
    MalformedSessionFile,
    SymlinkRefused,
    UnreadableSessionFile,
    Vault,
    is_session_name,
)
from vault.files import TEMP_PREFIX, read_bytes, stat_file
from vault.session_file import parse, render_message

from .fulltext import FullText
from .mirror import Mirror, set_state
from .records import ReconcileReport
from .rows import FileRow, Prefix

__all__ = ("RACY_NS", "Progress", "Syncer")

log = logging.getLogger("codearchitect.indexer.sync")

RACY_NS = 50_000_000
Progress = Callable[[str, int, int], None]
Feed = Callable[[Iterable[tuple[Any, ...]]], None]
_START = b"<!-- cam:msg "
_ATTEMPTS = 4
_BATCH_FILES = 64  # files per write transaction in a bulk reconcile
_BATCH_BYTES = 8 << 20


class _Moved(Exception):
    """The file or its mirror row changed while we were reading it."""


@dataclass
class _Step:
    """A mirror write prepared outside the write transaction (read, hash, parse done)."""

    path: Path
    rel: str
    st: FileState | None  # the file's stat data when read; None: it is gone
    row: FileRow | None  # the mirror's record when read
    write: Callable[[sqlite3.Connection], str]
    docs: list[tuple[Any, ...]] = field(default_factory=list)  # full-text rows it wrote


class Syncer:
    """Applies files to the mirror; safe to call from any thread or process."""

    def __init__(self, vault: Vault, mirror: Mirror) -> None:
        self.vault = vault
        self.mirror = mirror

    def rel(self, path: Path | str) -> str | None:
        """`day/name.md` when `path` is where the vault keeps session files, else None."""
        try:
            parts = Path(path).relative_to(self.vault.sessions_dir).parts
        except ValueError:
            return None
        if len(parts) != 2 or not is_session_name(parts[1]):
            return None
        return f"{parts[0]}/{parts[1]}"

    # ------------------------------------------------------------------ one file

    def index_path(self, path: Path | str, *, queue: bool = True) -> str:
        """Bring one path's mirror rows in line with the file (or its absence).

        Returns 'added', 'updated', 'removed', 'malformed', 'unchanged', 'ignored', or
        'retry' when the file kept changing while being read.
        """
        rel = self.rel(path)
        if rel is None:
            return "ignored"
        full = self.vault.sessions_dir / rel
        for _ in range(_ATTEMPTS):
            try:
                return self._index_once(full, rel, queue)
            except _Moved:
                time.sleep(0.005)
        return "retry"

    def _index_once(self, path: Path, rel: str, queue: bool) -> str:
        with self.mirror.read() as conn:
            row = self.mirror.file_row(conn, rel)
        step = self._prepare(path, rel, row, queue)
        if isinstance(step, str):
            return step
        with self.mirror.write() as conn:
            return self._commit(conn, step)

    def _prepare(self, path: Path, rel: str, row: FileRow | None, queue: bool) -> str | _Step:
        """Read, hash and parse outside any write transaction: an outcome, or the write to
        make (anchored, see `_commit`). `row` is the mirror's record as last read."""
        data = b""
        st: FileState | None
        try:
            # A symlinked day folder is outside the vault as far as we are concerned.
            if path.parent.is_symlink():
                st = None
            elif row is None:
                # Nothing to compare the stat data with (a rebuild, a new file): read at
                # once, which refuses what a stat would (a link, a missing file).
                data, st = read_bytes(path)
            else:
                st = stat_file(path)
                if st is not None and _fresh(row, st):
                    return "unchanged"
                if st is not None:
                    data, st = read_bytes(path)
        except FileNotFoundError:
            st = None
        except (SymlinkRefused, UnreadableSessionFile) as exc:
            # Never read (a link, a FIFO, a folder, no permission): recorded once with its
            # reason and reported; read again only when its stat data change.
            return self._refused(path, rel, row, str(exc), queue)
        if st is None:
            if row is None:
                return "unchanged"

            def remove(conn: sqlite3.Connection) -> str:
                self.mirror.remove_file(conn, rel, queue=queue)
                return "removed"

            return _Step(path, rel, None, row, remove)
        return self._prepare_bytes(path, rel, row, data, st, queue)

    def _commit(self, conn: sqlite3.Connection, step: _Step) -> str:
        """Inside a write transaction: check the anchor, then write."""
        self._anchor(conn, step.path, step.rel, step.st, step.row)
        return step.write(conn)

    def _prepare_bytes(
        self, path: Path, rel: str, row: FileRow | None, data: bytes, st: FileState, queue: bool
    ) -> str | _Step:
        hasher = hashlib.sha256()
        view = memoryview(data)
        prefix_digest = None
        if row is not None and row.status == "ok" and 0 < row.prefix_size <= len(data):
            hasher.update(view[: row.prefix_size])
            prefix_digest = hasher.hexdigest()
            hasher.update(view[row.prefix_size :])
        else:
            hasher.update(view)
        digest = hasher.hexdigest()
        if row is not None and row.hash == digest:
            known = row

            def touch(conn: sqlite3.Connection) -> str:
                self.mirror.touch(conn, known, st, digest)
                return "unchanged"

            return _Step(path, rel, st, row, touch)
        if row is not None and prefix_digest is not None and prefix_digest == row.prefix_hash:
            step = self._prepare_tail(path, rel, row, data, st, digest, queue)
            if step is not None:
                return step
        try:
            parsed = parse(data, path)
        except MalformedSessionFile as exc:
            reason, line = exc.reason, exc.line

            def bad(conn: sqlite3.Connection) -> str:
                self.mirror.put_bad(conn, rel, st, digest, "malformed", reason, line, queue=queue)
                return "malformed"

            return _Step(path, rel, st, row, bad)
        end = len(data) if parsed.torn_offset is None else parsed.torn_offset
        prefix_hash = digest if end == len(data) else _sha(view[:end])  # no torn tail: the same
        prefix = Prefix(end, prefix_hash, len(parsed.session.messages), parsed.body_offset)
        docs: list[tuple[Any, ...]] = []

        def put(conn: sqlite3.Connection) -> str:
            return self.mirror.put_session(
                conn, rel, st, digest, prefix, parsed.session, queue=queue, docs=docs
            )

        return _Step(path, rel, st, row, put, docs)

    def _prepare_tail(
        self,
        path: Path,
        rel: str,
        row: FileRow,
        data: bytes,
        st: FileState,
        digest: str,
        queue: bool,
    ) -> _Step | None:
        """Parse only what follows the known prefix; None means "do a full parse"."""
        tail = data[row.prefix_size :]
        if not _tail_is_plain(tail):
            return None
        try:
            parsed = parse(data[: row.body_offset] + tail, path)
        except MalformedSessionFile:
            return None
        messages = parsed.session.messages
        with self.mirror.read() as conn:
            ids = [m.id for m in messages]
            clash = conn.execute(
                f"SELECT 1 FROM messages WHERE file_id = ? AND position < ? AND id IN "
                f"({', '.join('?' * len(ids))})",
                (row.id, row.prefix_count, *ids),
            ).fetchone()
            session_id = conn.execute(
                "SELECT id FROM sessions WHERE file_id = ?", (row.id,)
            ).fetchone()
        if clash is not None or session_id is None or not queue:
            return None
        end = len(data)
        if parsed.torn_offset is not None:
            end = parsed.torn_offset - row.body_offset + row.prefix_size
        prefix = Prefix(
            end, _sha(memoryview(data)[:end]), row.prefix_count + len(messages), row.body_offset
        )

        def put_tail(conn: sqlite3.Connection) -> str:
            changed = self.mirror.put_tail(conn, row, st, digest, prefix, session_id[0], messages)
            return "updated" if changed else "unchanged"

        return _Step(path, rel, st, row, put_tail)

    def _refused(self, path: Path, rel: str, row: FileRow | None, reason: str, queue: bool) -> str:
        try:
            lst = os.lstat(path)
        except FileNotFoundError:
            return "unchanged" if row is None else self.index_path(path, queue=queue)
        st = FileState(lst.st_ino, lst.st_size, lst.st_mtime_ns)
        if row is not None and row.status == "refused" and row.state == st:
            return "unchanged"
        with self.mirror.write() as conn:
            self.mirror.put_bad(conn, rel, st, None, "refused", reason, None, queue=queue)
        return "malformed"

    def _anchor(
        self,
        conn: sqlite3.Connection,
        path: Path,
        rel: str,
        st: FileState | None,
        row: FileRow | None,
    ) -> None:
        """Inside the write transaction: the file and its row are still as we read them."""
        try:
            now = None if path.parent.is_symlink() else stat_file(path)
        except SymlinkRefused as exc:
            raise _Moved(rel) from exc
        if now != st or self.mirror.file_row(conn, rel) != row:
            raise _Moved(rel)

    # ------------------------------------------------------------------ our own appends

    def apply_append(self, appended: Appended) -> str:
        """Record a message the vault just appended, without re-reading the file when the
        mirror held exactly the file as it was before the append (the usual case)."""
        rel = self.rel(appended.path)
        if rel is None:
            return "ignored"
        if appended.appended and not appended.created_session:
            size = len(render_message(appended.message).encode("utf-8"))
            st = appended.state
            with self.mirror.write() as conn:
                row = self.mirror.file_row(conn, rel)
                known = (
                    row is not None
                    and conn.execute(
                        "SELECT 1 FROM messages WHERE file_id = ? AND id = ?",
                        (row.id, appended.message.id),
                    ).fetchone()
                )
                if (
                    row is not None
                    and row.status == "ok"
                    and not known
                    and row.ino == st.ino
                    and row.size + size == st.size
                    and stat_file(appended.path) == st
                ):
                    self.mirror.append_message(conn, row, st, appended.message)
                    return "appended"
        return self.index_path(appended.path)

    # ------------------------------------------------------------------ everything

    def reconcile(
        self, *, bulk: bool = False, progress: Progress | None = None, feed: Feed | None = None
    ) -> ReconcileReport:
        """Compare every session file with the mirror and apply the differences.

        Args:
            bulk: do not queue per-file full-text updates (the caller queues one 'all', or
                feeds tantivy itself), and write the mirror in batches of files, one
                transaction each.
            progress: called as progress("read", done, total) after each file.
            feed: in bulk mode, called after each batch's transaction with the full-text
                rows (the columns of `fulltext._DOC_SELECT`) of every file it wrote.
        """
        started = time.monotonic()
        report = ReconcileReport()
        with self.mirror.read() as conn:
            rows = self.mirror.file_rows(conn)
        known = set(rows)
        paths = list(self.vault.session_paths())
        total = len(paths)
        batch: list[_Step] = []
        size = 0
        for done, path in enumerate(paths, 1):
            rel = self.rel(path)
            if rel is None:
                continue
            known.discard(rel)
            # The rows were read before the loop; a stale one fails the anchor and is retried.
            step = self._prepare(self.vault.sessions_dir / rel, rel, rows.get(rel), not bulk)
            if isinstance(step, str):
                self._count(report, step)
            elif bulk:
                batch.append(step)
                size += step.st.size if step.st is not None else 0
                if len(batch) >= _BATCH_FILES or size >= _BATCH_BYTES:
                    self._commit_batch(batch, report, feed)
                    batch, size = [], 0
            else:
                self._count(report, self._commit_one(step))
            if progress is not None:
                progress("read", done, total)
        self._commit_batch(batch, report, feed)
        for rel in sorted(known):
            self._count(report, self.index_path(self.vault.sessions_dir / rel, queue=not bulk))
        with self.mirror.write() as conn:  # until the first one, answers are marked stale
            set_state(conn, "last_reconcile_ns", time.time_ns())
        report.scanned = total
        report.seconds = time.monotonic() - started
        return report

    def _commit_one(self, step: _Step) -> str:
        try:
            with self.mirror.write() as conn:
                return self._commit(conn, step)
        except _Moved:
            return self.index_path(step.path)

    def _commit_batch(self, steps: list[_Step], report: ReconcileReport, feed: Feed | None) -> None:
        """Write prepared files in one transaction. A file that moved since it was read is
        indexed again on its own afterwards, queued for tantivy as any other change."""
        if not steps:
            return
        moved: list[_Step] = []
        docs: list[tuple[Any, ...]] = []
        with self.mirror.write() as conn:
            for step in steps:
                try:
                    self._count(report, self._commit(conn, step))
                except _Moved:
                    moved.append(step)
                    continue
                docs += step.docs
        if feed is not None and docs:
            feed(docs)
        for step in moved:
            self._count(report, self.index_path(step.path))

    def rebuild(
        self, progress: Progress | None = None, fulltext: FullText | None = None
    ) -> ReconcileReport:
        """Forget every file and read them all again.

        With `fulltext` (its writer held by this process) the documents are added to tantivy
        as each batch of files is written, so tantivy indexes on another core while the next
        files are parsed; otherwise one 'all' entry is queued for the leader at the end.
        """
        if fulltext is None:
            with self.mirror.write() as conn:
                self.mirror.reset(conn)
            report = self.reconcile(bulk=True, progress=progress)
            with self.mirror.write() as conn:
                self.mirror.enqueue(conn, "all", None)
            return report
        with fulltext.bulk(self.mirror) as feed:
            with self.mirror.write() as conn:
                self.mirror.reset(conn)
            return self.reconcile(bulk=True, progress=progress, feed=feed)

    def sweep_temp_files(self, max_age: float = 900.0) -> int:
        """Delete the vault's temp files (`.~cam-*.tmp`) older than `max_age` seconds: what a
        crash mid-write leaves. Younger ones may belong to a live writer."""
        removed = 0
        cutoff = time.time() - max_age
        folders = [self.vault.dir, self.vault.sessions_dir]
        if self.vault.sessions_dir.is_dir():
            folders += [p for p in self.vault.sessions_dir.iterdir() if p.is_dir()]
        for folder in folders:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if not (entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(".tmp")):
                    continue
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except OSError:
                    continue
        if removed:
            log.info("swept %d stale temp files", removed)
        return removed

    @staticmethod
    def _count(report: ReconcileReport, outcome: str) -> None:
        if outcome == "retry":
            report.retried += 1
        elif outcome in ("added", "updated", "removed", "unchanged", "malformed"):
            setattr(report, outcome, getattr(report, outcome) + 1)


def _fresh(row: FileRow, st: FileState) -> bool:
    """The row certainly describes the file: same stat data, hashed, and not racy."""
    return row.state == st and row.hash is not None and row.mtime_ns < row.indexed_at_ns - RACY_NS


def _sha(data: memoryview | bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tail_is_plain(tail: bytes) -> bool:
    """Every block in the tail carries its own id and time (written by us, not by hand),
    so parsing it without the blocks before it gives the same messages."""
    for line in tail.split(b"\n"):
        if line.startswith(_START) and (b" id=" not in line or b" ts=" not in line):
            return False
    return True
