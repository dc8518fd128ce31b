"""The SQLite mirror: connections, schema versioning and every write to the mirror.

Every process may write. Each thread has its own connection (WAL, `busy_timeout`, foreign
keys on). Every write runs inside `BEGIN IMMEDIATE`, so a writer waits for the write lock
up front instead of failing half way; SQLITE_BUSY is retried here and never reaches a
caller. Every change that tantivy must follow is queued in `fulltext_queue` in the same
transaction (see docs/indexing.md).

A damaged database is moved aside and a new one made in its place, at a start (`open`) or
by a running leader (`repair`). Every connection remembers the file it opened (device,
inode) and, before each use, compares it with the file now at the path: one whose file was
replaced is closed and the new file opened. (Closing it is safe: SQLite's close of the
last connection to a file in WAL mode checkpoints and deletes `<path>-wal` and `-shm` by
name, the new database's by then, but only while the file it opened is still at the path;
see SQLITE_FCNTL_HAS_MOVED.) Connections are opened, and the files moved, under a lock of
their own (`mirror.sqlite3.lock`), so no connection ever pairs the new database with the
old one's `-wal`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vault import FileState, Message, SessionFile
from vault.derived import claim_dir, claim_file, open_file

from .errors import IndexUnavailable, MirrorDamaged
from .rows import (
    MESSAGE_INSERT,
    SESSION_INSERT,
    FileRow,
    Prefix,
    message_values,
    session_updated_at,
    session_values,
)
from .schema import DDL, KEY_FIELDS, SCHEMA_VERSION, TABLES

__all__ = ("Identity", "Mirror", "get_state", "identity_of", "set_state")

log = logging.getLogger("codearchitect.indexer.mirror")

# Session fields copied into every tantivy document: a change re-indexes the whole file.
DOC_SESSION_FIELDS = ("id", "title", *KEY_FIELDS, "topic")
_DB_SUFFIXES = ("", "-wal", "-shm", "-journal", ".check", ".lock")
_MOVED_SUFFIXES = ("", "-wal", "-shm")  # what a damaged database is made of
Identity = tuple[int, int]  # (device, inode) of a database file
_FILE_COLUMNS = (
    "id, path, ino, size, mtime_ns, hash, prefix_size, prefix_hash, prefix_count, "
    "body_offset, indexed_at_ns, status"
)


class Mirror:
    """The SQLite database under `.codearchitect/index/`."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 5000,
        retry_seconds: float = 60.0,
        root: Path | None = None,
    ):
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.retry_seconds = retry_seconds
        # `.codearchitect/`: the index folder is claimed below it again when the database
        # file was replaced (the whole folder may have been deleted).
        self.root = root
        self._local = threading.local()
        self._all: list[tuple[sqlite3.Connection, Identity | None]] = []
        self._guard = threading.Lock()
        self._closed = False
        self.moved_aside: Path | None = None  # where the last damaged file went

    # ------------------------------------------------------------------ connections

    def open(self, *, check: bool = False) -> bool:
        """Create or check the schema; True when the mirror was (re)created empty.

        The whole-file integrity check (`PRAGMA quick_check`, which reads every page: ~1 s
        at 400,000 messages) runs only with `check` (a long-lived process starting, see
        `Indexer.start`) or when an earlier query met a damaged page (the `.check` marker
        next to the database); a damaged mirror is moved aside and recreated empty.
        """
        # Derived state: a link or special file planted at any of the database's names is
        # removed, never opened through (SQLite follows links to -wal and -shm).
        for suffix in _DB_SUFFIXES:
            claim_file(Path(str(self.path) + suffix))
        try:
            created = self._ensure_schema()
            if not created and (check or self.check_marker.exists()):
                self._quick_check()
                self.check_marker.unlink(missing_ok=True)
            return created
        except (sqlite3.DatabaseError, MirrorDamaged) as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise IndexUnavailable("Cannot open the SQLite mirror", details=str(exc)) from exc
            self._move_aside(exc)
            self._ensure_schema()
            return True

    def repair(self) -> Path | None:
        """Check the whole file now and replace it if it is damaged, as `open` does at a
        start: for a running leader when a query met a damaged page (the `.check` marker).
        Returns where the damaged file went, or None when it was sound (or another
        process replaced it first)."""
        self.moved_aside = None
        self.open(check=True)
        return self.moved_aside

    def _move_aside(self, exc: BaseException) -> None:
        """Move the damaged database (with its -wal and -shm) to `<name>.corrupt-<time>`.

        Only the file this thread found damaged: if another process replaced it meanwhile,
        the new one is left alone."""
        log.warning("mirror %s is corrupt (%s); moving it aside and rebuilding", self.path, exc)
        damaged = self.thread_identity()
        self._close_thread_conn()
        stamp = time.strftime("%Y%m%dT%H%M%S")
        with self._gate(exclusive=True):
            if damaged is not None and identity_of(self.path) != damaged:
                log.info("mirror %s was already replaced by another process", self.path)
            else:
                aside = Path(f"{self.path}.corrupt-{stamp}")
                for suffix in _MOVED_SUFFIXES:
                    src = Path(str(self.path) + suffix)
                    if os.path.lexists(src):
                        os.replace(src, Path(f"{aside}{suffix}"))
                self.moved_aside = aside
        self.check_marker.unlink(missing_ok=True)

    @property
    def check_marker(self) -> Path:
        """Present when a query met a damaged page: the leader (or the next open) checks
        the whole file."""
        return Path(f"{self.path}.check")

    def _damaged(self, exc: BaseException) -> None:
        """Remember a damaged database (SQLITE_CORRUPT/NOTADB raise plain DatabaseError),
        unless this thread's file has been replaced already (it reads a moved file)."""
        if type(exc) is sqlite3.DatabaseError and self.thread_identity() == identity_of(self.path):
            log.error("mirror %s: %s; it is checked and rebuilt by the leader", self.path, exc)
            with contextlib.suppress(OSError):
                os.close(open_file(self.check_marker, os.O_WRONLY | os.O_CREAT))

    def identity(self) -> Identity | None:
        """(device, inode) of the database file now at the path; None if there is none."""
        return identity_of(self.path)

    def thread_identity(self) -> Identity | None:
        """(device, inode) of the file this thread's connection opened (or last tried)."""
        ident: Identity | None = getattr(self._local, "ident", None)
        return ident

    def conn(self) -> sqlite3.Connection:
        """This thread's connection, to the database file now at the path."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            if conn.in_transaction or self._local.ident == identity_of(self.path):
                return conn
            log.info("mirror %s was replaced; this thread reconnects", self.path)
            self._close_thread_conn()
        if self._closed:
            raise IndexUnavailable("The index is closed")
        replaced = self.thread_identity() is not None
        if replaced and self.root is not None:
            claim_dir(self.path.parent, self.root)
        conn = self._connect()
        if replaced:
            self._ensure_schema()  # a follower may get here before the leader made it
        return conn

    def _connect(self) -> sqlite3.Connection:
        with self._gate(exclusive=False):
            if self.thread_identity() is not None:
                for suffix in _DB_SUFFIXES:
                    claim_file(Path(str(self.path) + suffix))
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            self._local.ident = ident = identity_of(self.path)
            try:
                conn.row_factory = sqlite3.Row
                patience = getattr(self._local, "patience", None)
                wait_ms = self.busy_timeout_ms
                if patience is not None:
                    wait_ms = int(min(self.busy_timeout_ms, patience * 1000))
                conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
                self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA temp_store = MEMORY")
            except BaseException as exc:
                self._damaged(exc)
                _close(conn)
                if type(exc) is sqlite3.DatabaseError:  # e.g. a garbage header
                    raise MirrorDamaged("Cannot open the SQLite mirror", details=str(exc)) from exc
                raise
        self._local.conn = conn
        with self._guard:
            self._all.append((conn, ident))
        return conn

    def _close_thread_conn(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._guard:
                self._all = [(c, i) for c, i in self._all if c is not conn]
            _close(conn)

    @contextmanager
    def _gate(self, *, exclusive: bool) -> Iterator[None]:
        """Shared while a connection opens, exclusive while a damaged file is moved aside."""
        fd = open_file(Path(f"{self.path}.lock"), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close every thread's connection."""
        with self._guard:
            self._closed = True
            for conn, _ in self._all:
                _close(conn)
            self._all.clear()
        self._local = threading.local()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (`BEGIN IMMEDIATE`), committed on success."""
        conn = self.conn()
        try:
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
        except BaseException as exc:
            self._damaged(exc)  # a garbage header fails here
            raise
        try:
            yield conn
        except BaseException as exc:
            self._damaged(exc)
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        try:
            self._retry(lambda: conn.execute("COMMIT"))
        except BaseException as exc:
            self._damaged(exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one snapshot."""
        conn = self.conn()
        if conn.in_transaction:  # nested inside a write of this thread
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        except BaseException as exc:
            self._damaged(exc)
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        if conn.in_transaction:
            conn.execute("COMMIT")

    def read_row(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of one statement, which is a snapshot of its own: no BEGIN and
        COMMIT around it (for the small reads every search makes, `FullText._pending`)."""
        conn = self.conn()
        try:
            row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
        except BaseException as exc:
            self._damaged(exc)
            raise
        return row

    @contextmanager
    def patience(self, seconds: float) -> Iterator[None]:
        """Within the block, this thread waits about `seconds` at most for a busy
        database, instead of `retry_seconds` (its `busy_timeout` is cut to match)."""
        conn = self.conn()
        before = getattr(self._local, "patience", None)
        self._local.patience = seconds
        wait_ms = int(min(self.busy_timeout_ms, seconds * 1000))
        conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
        try:
            yield
        finally:
            self._local.patience = before
            restored = (
                self.busy_timeout_ms if before is None else min(self.busy_timeout_ms, before * 1000)
            )
            with contextlib.suppress(sqlite3.Error):
                conn.execute(f"PRAGMA busy_timeout = {int(restored)}")

    def _retry(self, fn: Any) -> Any:
        patience = getattr(self._local, "patience", None)
        deadline = time.monotonic() + (self.retry_seconds if patience is None else patience)
        delay = 0.002
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise IndexUnavailable("The SQLite mirror is busy", details=str(exc)) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def _quick_check(self) -> None:
        """Raise `sqlite3.DatabaseError` if the database is damaged past its header (a bad
        page would otherwise fail every query that touches it, for good)."""
        rows = self.conn().execute("PRAGMA quick_check").fetchall()
        problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
        if problems:
            raise sqlite3.DatabaseError(f"quick_check: {problems[0]}")

    def _ensure_schema(self) -> bool:
        conn = self.conn()
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return False
        with self.write() as conn:
            if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return False
            for table in TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _statements(DDL):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            created = time.time_ns()
            set_state(conn, "created_ns", created)
            # Counted up from the creation time, not from 0: a process's cached full-text
            # reader or overlay of an earlier mirror at this path never matches this one's.
            set_state(conn, "fulltext_generation", created // 1000)
        log.info("created the SQLite mirror %s (schema %d)", self.path, SCHEMA_VERSION)
        return True

    # ------------------------------------------------------------------ file rows

    def file_rows(self, conn: sqlite3.Connection) -> dict[str, FileRow]:
        rows = conn.execute(f"SELECT {_FILE_COLUMNS} FROM files")
        return {r["path"]: FileRow(*r) for r in rows}

    def file_row(self, conn: sqlite3.Connection, rel: str) -> FileRow | None:
        r = conn.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE path = ?", (rel,)).fetchone()
        return None if r is None else FileRow(*r)

    def file_messages(
        self, conn: sqlite3.Connection, file_id: int, start: int = 0
    ) -> list[sqlite3.Row]:
        return conn.execute(
            "SELECT position, id, role, content, metadata, created_at, edited FROM messages "
            "WHERE file_id = ? AND position >= ? ORDER BY position",
            (file_id, start),
        ).fetchall()

    # ------------------------------------------------------------------ writes

    def put_session(
        self,
        conn: sqlite3.Connection,
        rel: str,
        state: FileState,
        digest: str,
        prefix: Prefix,
        session: SessionFile,
        *,
        queue: bool = True,
        docs: list[tuple[Any, ...]] | None = None,
    ) -> str:
        """Store a fully parsed file; returns 'added' or 'updated'.

        `docs`, if given, receives each message's full-text row (the columns of
        `fulltext._DOC_SELECT`), for a caller that feeds tantivy itself (a rebuild)."""
        old = self.file_row(conn, rel)
        file_id = self._upsert_file(conn, old, rel, state, digest, prefix, "ok", None, None)
        old_session = None
        old_messages: dict[str, tuple[Any, ...]] = {}
        # A new file's id is new (AUTOINCREMENT): no session or message holds it yet (every
        # file of a rebuild), so there is nothing to read or delete.
        if old is not None:
            old_session = conn.execute(
                f"SELECT {', '.join(DOC_SESSION_FIELDS)} FROM sessions WHERE file_id = ?",
                (file_id,),
            ).fetchone()
            old_messages = {
                r["id"]: (r["role"], r["content"], r["metadata"], r["created_at"])
                for r in conn.execute(
                    "SELECT id, role, content, metadata, created_at FROM messages "
                    "WHERE file_id = ? ORDER BY position",
                    (file_id,),
                )
            }
            conn.execute("DELETE FROM sessions WHERE file_id = ?", (file_id,))
        conn.execute(SESSION_INSERT, session_values(file_id, session))
        rows = [message_values(file_id, i, session.id, m) for i, m in enumerate(session.messages)]
        conn.executemany(MESSAGE_INSERT, rows)
        if docs is not None:
            keys = tuple(getattr(session, f) for f in KEY_FIELDS)
            first = rows[0]["content"] if rows else ""
            docs += (
                (
                    file_id,
                    r["id"],
                    r["session_id"],
                    r["role"],
                    r["content"],
                    r["metadata"],
                    r["created_at"],
                    session.title,
                    *keys,
                    session.topic,
                    first,
                )
                for r in rows
            )
        if queue:
            new_fields = tuple(getattr(session, f) for f in DOC_SESSION_FIELDS)
            if old_session is None or tuple(old_session) != new_fields:
                self.enqueue(conn, "file", file_id)
            else:
                new = {
                    r["id"]: (r["role"], r["content"], r["metadata"], r["created_at"]) for r in rows
                }
                changed = [
                    k for k in new.keys() | old_messages.keys() if new.get(k) != old_messages.get(k)
                ]
                first_id = rows[0]["id"] if rows else None
                if first_id is not None and (
                    first_id in changed or next(iter(old_messages), None) != first_id
                ):
                    # every document's `heading` depends on the first message (fulltext.py)
                    self.enqueue(conn, "file", file_id)
                    return "added" if old is None else "updated"
                for mid in changed:
                    self.enqueue(conn, "msg", file_id, mid)
        return "added" if old is None else "updated"

    def put_tail(
        self,
        conn: sqlite3.Connection,
        row: FileRow,
        state: FileState,
        digest: str | None,
        prefix: Prefix,
        session_id: str,
        tail: Sequence[Message],
    ) -> bool:
        """Replace the messages after `row.prefix_count` by `tail`; True if anything changed."""
        start = row.prefix_count
        new_rows = [message_values(row.id, start + i, session_id, m) for i, m in enumerate(tail)]
        old = self.file_messages(conn, row.id, start)
        old_rows = [
            {**dict(zip(r.keys(), r, strict=True)), "file_id": row.id, "session_id": session_id}
            for r in old
        ]
        self._upsert_file(conn, row, row.path, state, digest, prefix, "ok", None, None)
        if old_rows == new_rows:
            return False
        conn.execute("DELETE FROM messages WHERE file_id = ? AND position >= ?", (row.id, start))
        conn.executemany(MESSAGE_INSERT, new_rows)
        self._refresh_counters(conn, row.id)
        old_keys = {r["id"]: _indexed(r) for r in old_rows}
        new_keys = {r["id"]: _indexed(r) for r in new_rows}
        for mid in old_keys.keys() | new_keys.keys():
            if old_keys.get(mid) != new_keys.get(mid):
                self.enqueue(conn, "msg", row.id, mid)
        return True

    def append_message(
        self, conn: sqlite3.Connection, row: FileRow, state: FileState, message: Message
    ) -> None:
        """Record one appended message without re-reading the file (hash becomes unknown).

        The session's counters move by this one message (not recounted: that scanned every
        message of the session, ~2 ms at 5,000)."""
        sid, count, last = conn.execute(
            "SELECT id, message_count, last_message_at FROM sessions WHERE file_id = ?",
            (row.id,),
        ).fetchone()
        values = message_values(row.id, count, sid, message)
        conn.execute(MESSAGE_INSERT, values)
        conn.execute(
            "UPDATE files SET ino = ?, size = ?, mtime_ns = ?, hash = NULL, indexed_at_ns = ? "
            "WHERE id = ?",
            (state.ino, state.size, state.mtime_ns, time.time_ns(), row.id),
        )
        times = [t for t in (last, values["created_at"]) if t is not None]
        self._set_counters(conn, row.id, count + 1, max(times) if times else None)
        self.enqueue(conn, "msg", row.id, message.id)

    def put_bad(
        self,
        conn: sqlite3.Connection,
        rel: str,
        state: FileState,
        digest: str | None,
        status: str,
        error: str,
        line: int | None,
        *,
        queue: bool = True,
    ) -> None:
        """Record a file that cannot be indexed (malformed, or a refused symlink)."""
        old = self.file_row(conn, rel)
        empty = Prefix(0, None, 0, 0)
        file_id = self._upsert_file(conn, old, rel, state, digest, empty, status, error, line)
        gone = conn.execute("DELETE FROM sessions WHERE file_id = ?", (file_id,)).rowcount
        if gone and queue:
            self.enqueue(conn, "file", file_id)

    def touch(
        self, conn: sqlite3.Connection, row: FileRow, state: FileState, digest: str | None
    ) -> None:
        """The content is unchanged: record the new stat data and verification time."""
        conn.execute(
            "UPDATE files SET ino = ?, size = ?, mtime_ns = ?, hash = ?, indexed_at_ns = ? "
            "WHERE id = ?",
            (state.ino, state.size, state.mtime_ns, digest, time.time_ns(), row.id),
        )

    def remove_file(self, conn: sqlite3.Connection, rel: str, *, queue: bool = True) -> bool:
        row = conn.execute("SELECT id FROM files WHERE path = ?", (rel,)).fetchone()
        if row is None:
            return False
        conn.execute("DELETE FROM files WHERE id = ?", (row[0],))
        if queue:
            self.enqueue(conn, "file", row[0])
        return True

    def enqueue(
        self,
        conn: sqlite3.Connection,
        kind: str,
        file_id: int | None,
        message_id: str | None = None,
    ) -> int:
        """Queue a change for tantivy; returns its sequence number."""
        cur = conn.execute(
            "INSERT INTO fulltext_queue (kind, file_id, message_id, enqueued_ns) VALUES (?,?,?,?)",
            (kind, file_id, message_id, time.time_ns()),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def reset(self, conn: sqlite3.Connection) -> None:
        """Forget every file (a rebuild); tantivy follows through one 'all' entry."""
        for table in ("messages", "sessions", "files"):
            conn.execute(f"DELETE FROM {table}")

    def _upsert_file(
        self,
        conn: sqlite3.Connection,
        old: FileRow | None,
        rel: str,
        state: FileState,
        digest: str | None,
        prefix: Prefix,
        status: str,
        error: str | None,
        line: int | None,
    ) -> int:
        values: tuple[Any, ...] = (state.ino, state.size, state.mtime_ns, digest, prefix.size)
        values += (prefix.hash, prefix.count, prefix.body_offset, time.time_ns(), status, error)
        values += (line,)
        if old is None:
            cur = conn.execute(
                "INSERT INTO files (ino, size, mtime_ns, hash, prefix_size, prefix_hash, "
                "prefix_count, body_offset, indexed_at_ns, status, error, error_line, path) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*values, rel),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid
        conn.execute(
            "UPDATE files SET ino=?, size=?, mtime_ns=?, hash=?, prefix_size=?, prefix_hash=?, "
            "prefix_count=?, body_offset=?, indexed_at_ns=?, status=?, error=?, error_line=? "
            "WHERE id = ?",
            (*values, old.id),
        )
        return old.id

    def _refresh_counters(self, conn: sqlite3.Connection, file_id: int) -> None:
        count, last = conn.execute(
            "SELECT count(*), max(created_at) FROM messages WHERE file_id = ?", (file_id,)
        ).fetchone()
        self._set_counters(conn, file_id, count, last)

    def _set_counters(
        self, conn: sqlite3.Connection, file_id: int, count: int, last: str | None
    ) -> None:
        """A session's message count, last message time and last activity."""
        created_at, updated = conn.execute(
            "SELECT created_at, updated FROM sessions WHERE file_id = ?", (file_id,)
        ).fetchone()
        updated_at = session_updated_at(created_at, updated, last)
        conn.execute(
            "UPDATE sessions SET message_count = ?, last_message_at = ?, updated_at = ? "
            "WHERE file_id = ?",
            (count, last, updated_at, file_id),
        )


def get_state(conn: sqlite3.Connection, key: str) -> Any:
    row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_state(conn: sqlite3.Connection, key: str, value: object) -> None:
    conn.execute(
        "INSERT INTO state (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _statements(ddl: str) -> Iterable[str]:
    text = re.sub(r"--[^\n]*", "", ddl)
    pending = ""
    for part in text.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):  # a trigger body holds ';' of its own
            if pending.strip(" \n;"):
                yield pending.strip()
            pending = ""


def identity_of(path: Path) -> Identity | None:
    """(device, inode) of the file at `path` (not following a link); None if none."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_dev, st.st_ino)


def _close(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _indexed(row: dict[str, Any]) -> tuple[Any, ...]:
    """What of a message row the full-text index holds, or depends on."""
    return (row["role"], row["content"], row["metadata"], row["created_at"])
