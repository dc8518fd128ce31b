"""`Indexer`: the facade the MCP layer and the CLI use.

It wraps a `Vault`: writes go to the files first (through the vault) and are then applied
to the mirror at once, so the next query in this process sees them (read-your-writes);
queries and search read the derived state. `start()` adds the background work (see
worker.py); without it, call `reconcile()` and `flush()` yourself (one-shot commands).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

from vault import (
    Appended,
    FileState,
    InvalidInput,
    Message,
    MessageNotFound,
    SessionDeleted,
    SessionNotFound,
    Stored,
    Vault,
    VaultError,
    VaultWarning,
)
from vault.derived import claim_dir
from vault.redaction import Redactions

from . import queries, retrieval
from .context import Context, build_context
from .dump import dump_mirror
from .errors import IndexUnavailable, MirrorDamaged, translate_errors
from .filters import check_key
from .fulltext import FullText
from .malloc import limit_arenas
from .mirror import Identity, Mirror, get_state
from .records import (
    ConversationPair,
    IndexStatus,
    MessageRecord,
    ReconcileReport,
    SearchResult,
    SessionRecord,
)
from .rows import session_record
from .schema import DB_NAME, FULLTEXT_DIR, KEY_FIELDS, LEADER_LOCK, SCHEMA_VERSION
from .semantic import Embedder, EmbedWorker, SemanticIndex
from .settings import IndexSettings
from .sync import RACY_NS, Progress, Syncer
from .tool_filter import check_tool
from .worker import Leadership, Worker

_T = TypeVar("_T")
_Query = TypeVar("_Query", bound=Callable[..., Any])

__all__ = ("Indexer",)

log = logging.getLogger("codearchitect.indexer")

# How long a write waits for a busy mirror before it answers anyway (the file holds it).
WRITE_INDEX_PATIENCE = 2.0
# How long a query that met a damaged mirror waits for the leader to replace it (then it is
# asked again, and answers `stale` while the new mirror reads the files).
REPAIR_WAIT = 30.0
INDEX_BEHIND = VaultWarning(
    "INDEX_BEHIND",
    "Saved to the session file; the index is behind and catches up from the file"
    " (search may miss it for a moment)",
)


def _repairing(query: _Query) -> _Query:
    """A read-only query that met a damaged mirror waits for the leader to replace it
    (`Indexer._await_repair`), then runs once more on the new mirror."""

    @functools.wraps(query)
    def run(self: Indexer, *args: Any, **kwargs: Any) -> Any:
        try:
            with _damage_translated():
                return query(self, *args, **kwargs)
        except MirrorDamaged:
            if not self._await_repair():
                raise
        with _damage_translated():
            return query(self, *args, **kwargs)

    return cast(_Query, run)


@contextlib.contextmanager
def _damage_translated() -> Iterator[None]:
    """A damaged-database error that escaped a query's own `translate_errors` (a mirror
    read in a callback, e.g. the search vocabulary) is `MirrorDamaged` too."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if type(exc) is not sqlite3.DatabaseError:
            raise
        raise MirrorDamaged("The SQLite mirror is damaged", details=str(exc)) from exc


class Indexer:
    """A project's derived indexes, kept in step with its vault's files."""

    def __init__(
        self,
        vault: Vault | Path | str,
        settings: IndexSettings | None = None,
        *,
        embedder: Embedder | None = None,
    ) -> None:
        self.vault = vault if isinstance(vault, Vault) else Vault(vault)
        self.settings = settings or IndexSettings()
        index_dir = self.vault.index_dir
        self.mirror = Mirror(
            index_dir / DB_NAME,
            busy_timeout_ms=self.settings.busy_timeout_ms,
            root=self.vault.dir,
        )
        self.fulltext = FullText(
            index_dir / FULLTEXT_DIR,
            heap_bytes=self.settings.writer_heap_bytes,
            overlay_max=self.settings.overlay_max,
            state_root=self.vault.dir,
        )
        self.syncer = Syncer(self.vault, self.mirror)
        self.leadership = Leadership(index_dir / LEADER_LOCK, self.vault.dir)
        self.semantic = SemanticIndex(self.mirror, index_dir, self.vault.dir, embedder=embedder)
        self.stores = retrieval.Stores(self.mirror, self.fulltext, self.semantic)
        self._worker: Worker | None = None
        self._embedder: EmbedWorker | None = None
        self._vault_lock = threading.RLock()
        self._behind: dict[Path, None] = {}  # written files the index missed, in order
        self._flush_lock = threading.Lock()
        self.vault.seed_catalog(self._catalog_seed)
        self._opened = False
        self._checked = False
        # The mirror file on which a reconcile has finished (see catching_up).
        self._reconciled_on: Identity | None = None
        self.created = False  # True when open() found no usable mirror

    # ------------------------------------------------------------------ life cycle

    def open(self, *, check: bool = False) -> Indexer:
        """Create the vault and index folders and open the mirror (idempotent).

        `check`: read the whole mirror for damage first (see `Mirror.open`); `start` does.
        """
        if not self._opened or (check and not self._checked):
            with translate_errors("Cannot open the index"):
                if not self._opened:
                    self.vault.init()
                    claim_dir(self.vault.index_dir, self.vault.dir)
                created = self.mirror.open(check=check)
                if (
                    not self._opened
                    and self._worker is None
                    and self.fulltext.outdated(self.mirror)
                ):
                    self._lead_briefly()  # a new schema version: rebuild tantivy now if we may
            self.created = created or (self._opened and self.created)
            self._opened = True
            self._checked = self._checked or check
        if self._behind:
            self._retry_behind()
        return self

    def start(self) -> Indexer:
        """Start background indexing: lead if no other process does (watcher, full-text
        writer, reconcile at once and every few minutes), else follow and take over later.
        A long-lived process checks the whole mirror first, on the background thread
        before its first reconcile (`checked` tells when it is done), so that the caller,
        a server's first tool call, does not wait for it; one-shot commands skip it. A
        query that meets a damaged page meanwhile is answered as at any time (the marker,
        then the repair: docs/reliability.md)."""
        first = self._worker is None
        self.open()
        limit_arenas()
        if self._worker is None:
            self._worker = Worker(
                mirror=self.mirror,
                fulltext=self.fulltext,
                syncer=self.syncer,
                leadership=self.leadership,
                settings=self.settings,
                lead=self.leadership.try_acquire,
                git_lock=self.vault.root / ".git" / "index.lock",
            )
            with translate_errors("Cannot start indexing"):
                self._worker.start(check=first and not self._checked)
        if self._embedder is None:
            self._embedder = EmbedWorker(self.semantic, lambda: self.leadership.held)
            self._embedder.start()
        return self

    @property
    def checked(self) -> bool:
        """Has the whole mirror been checked since this process opened it (`open(check=
        True)`, or a started indexer's background check)?"""
        return self._checked or (self._worker is not None and self._worker.checked.is_set())

    def close(self) -> None:
        """Stop background work, release the writer and leadership, close connections."""
        if self._embedder is not None:
            self._embedder.stop()
            self._embedder = None
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.semantic.close_writer()
        self.fulltext.close_writer()
        self.leadership.release()
        self.mirror.close()
        self._opened = False

    def __enter__(self) -> Indexer:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def is_leader(self) -> bool:
        return self.leadership.held

    # ------------------------------------------------------------------ maintenance

    def reconcile(self, progress: Progress | None = None) -> ReconcileReport:
        """Compare the files with the mirror now; re-read only what changed."""
        self.open()
        with translate_errors("Reconcile failed"):
            report = self.syncer.reconcile(progress=progress)
        self._kick()
        return report

    def rebuild(
        self, progress: Progress | None = None, *, timeout: float = 600.0
    ) -> ReconcileReport:
        """Drop the mirror's rows and the full-text documents and read every file again.

        Args:
            progress: called as progress(phase, done, total); phase "read" per file, then
                "fulltext" (0 of 1, then 1 of 1) while tantivy absorbs everything.
        """
        self.open()
        with translate_errors("Rebuild failed"):
            with self._writer_for_bulk() as fulltext:
                report = self.syncer.rebuild(progress, fulltext)
            self._kick()
            if progress is not None:
                progress("fulltext", 0, 1)
            self.flush(timeout)
            if progress is not None:
                progress("fulltext", 1, 1)
        return report

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until tantivy holds every change queued so far (searches never need this:
        they cover the lag themselves). Leads for a moment if no process leads."""
        self.open()
        with translate_errors("Cannot update the full-text index"):
            with self.mirror.read() as conn:
                row = conn.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'fulltext_queue'"
                ).fetchone()
            target = 0 if row is None else int(row[0])
            worker = self._worker
            if worker is not None and (self.leadership.held or not self._lead_briefly()):
                return worker.wait_applied(target, timeout)
            if worker is None and self._lead_briefly():
                return True
            return self._wait_applied(target, timeout)

    @contextlib.contextmanager
    def _writer_for_bulk(self) -> Iterator[FullText | None]:
        """The full-text index with its writer held by this process for a bulk operation,
        or None when another process leads (or our worker leads but has no writer yet)."""
        with self._flush_lock:
            if self.leadership.held:
                yield self.fulltext if self.fulltext.writing else None
                return
            if self._worker is not None or not self.leadership.try_acquire():
                yield None
                return
            try:
                self.fulltext.open_writer(self.mirror)
                yield self.fulltext
            finally:
                self.fulltext.close_writer()
                self.leadership.release()

    def _catalog_seed(self) -> list[tuple[str, FileState, str]]:
        """What the mirror knows of each session file, for the vault's id catalogue: only
        rows whose state is certain (not racy, see sync.py), so the first look-up of a
        process reads the heads of changed files only instead of every file."""
        self.open()
        with self.mirror.read() as conn:
            return [
                (rel, FileState(ino, size, mtime), sid)
                for rel, ino, size, mtime, sid in conn.execute(
                    "SELECT f.path, f.ino, f.size, f.mtime_ns, s.id FROM files AS f "
                    "JOIN sessions AS s ON s.file_id = f.id "
                    "WHERE f.status = 'ok' AND f.mtime_ns < f.indexed_at_ns - ?",
                    (RACY_NS,),
                )
            ]

    def _lead_briefly(self) -> bool:
        """Absorb the queue ourselves if nobody leads; False if another process leads."""
        with self._flush_lock:
            if self.leadership.held and self._worker is not None:
                return False
            if not self.leadership.try_acquire():
                return False
            try:
                if not self.fulltext.writing:
                    self.fulltext.open_writer(self.mirror)
                while self.fulltext.apply_pending(self.mirror):
                    pass
            finally:
                if self._worker is None:
                    self.fulltext.close_writer()
                    self.leadership.release()
            return True

    def _wait_applied(self, target: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.mirror.read() as conn:
                if int(get_state(conn, "fulltext_seq") or 0) >= target:
                    return True
            if self._lead_briefly():
                return True
            time.sleep(0.02)
        return False

    @_repairing
    def status(self) -> IndexStatus:
        """Files on disk versus the index, malformed files, lag, and who leads."""
        self.open()
        with translate_errors("Cannot read index status"), self.mirror.read() as conn:
            files_indexed = conn.execute("SELECT count(*) FROM files WHERE status = 'ok'")
            indexed = int(files_indexed.fetchone()[0])
            sessions = int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])
            messages = int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
            applied = int(get_state(conn, "fulltext_seq") or 0)
            pending, oldest = conn.execute(
                "SELECT count(*), min(enqueued_ns) FROM fulltext_queue WHERE seq > ?", (applied,)
            ).fetchone()
            last = get_state(conn, "last_reconcile_ns")
            malformed = tuple(queries.malformed_files(conn))
        on_disk = sum(1 for _ in self.vault.session_paths())
        worker = self._worker
        return IndexStatus(
            files_on_disk=on_disk,
            files_indexed=indexed,
            sessions=sessions,
            messages=messages,
            fulltext_documents=self.fulltext.num_docs(self.mirror),
            fulltext_pending=int(pending),
            lag_seconds=0.0 if oldest is None else max(0.0, (time.time_ns() - oldest) / 1e9),
            leader=self.leadership.held,
            watcher=worker.watch_state.mode if worker is not None else None,
            last_reconcile=None if last is None else _iso_ns(int(last)),
            schema_version=SCHEMA_VERSION,
            malformed=malformed,
            semantic=self._semantic_status(),
        )

    def _semantic_status(self) -> dict[str, Any]:
        data = self.semantic.status()
        if self._embedder is not None and self._embedder.last_error:
            data["error"] = self._embedder.last_error
        return data

    def embed_pending(self, batch: int = 64) -> int:
        """Embed one batch of messages without vectors now (one-shot commands and tests;
        a started leader does this in the background). Returns 0 when none is left or
        another process leads."""
        self.open()
        if not self.leadership.held and not self.leadership.try_acquire():
            return 0
        try:
            with translate_errors("Embedding failed"):
                return self.semantic.embed_pending(batch)
        finally:
            if self._worker is None:
                self.semantic.close_writer()
                self.leadership.release()

    # ------------------------------------------------------------------ writes

    def store_session(
        self,
        conversation: object,
        topic: object = None,
        format: str | None = None,
        session_id: str | None = None,
    ) -> Stored:
        """`Vault.store_session`, then index the file (see `_index_written`)."""
        self.open()
        with self._vault_lock:
            stored = self.vault.store_session(conversation, topic, format, session_id)
            behind = self._index_written(stored.path)
        return replace(stored, warnings=stored.warnings + behind)

    def append_message(
        self,
        session_id: str | None,
        role: str,
        content: object,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Appended:
        """`Vault.append_message` (creates a missing session, seed 000), then index it
        (see `_index_written`)."""
        self.open()
        with self._vault_lock:
            appended = self.vault.append_message(session_id, role, content, metadata, **kwargs)
            behind = self._index_written(appended.path, lambda: self.syncer.apply_append(appended))
        self._kick()
        return replace(appended, warnings=appended.warnings + behind)

    def append_messages(
        self, session_id: str, messages: list[Message], **kwargs: Any
    ) -> tuple[Path, bool, list[Message]]:
        """`Vault.append_messages` (importers: caller ids, one write), then index the file."""
        self.open()
        with self._vault_lock:
            result = self.vault.append_messages(session_id, messages, **kwargs)
            self._index_written(result[0])
        return result

    def create_session(
        self, session_id: str | None = None, *, redacted: Redactions | None = None, **fields: Any
    ) -> SessionRecord:
        """`Vault.create_session`, then index the new file; the secrets it redacted are
        counted into `redacted` when given."""
        self.open()
        with self._vault_lock:
            path, session = self.vault.create_session(session_id, redacted=redacted, **fields)
            if self._index_written(path):
                return self._file_record(path)
        return self._session_or_raise(session.id)

    def patch_session(
        self, session_id: str, *, redacted: Redactions | None = None, **changes: Any
    ) -> SessionRecord:
        """`Vault.patch` (title, status, tags, metadata merged key by key, key fields);
        the secrets it redacted are counted into `redacted` when given."""
        self.open()
        with self._vault_lock:
            self.vault.patch(session_id, redacted=redacted, **changes)
            path = self.vault.locate(session_id)
            if self._index_written(path):
                return self._file_record(path)
        return self._session_or_raise(session_id)

    def delete_session(self, session_id: str) -> bool:
        """Move the session's file to the trash and drop it (and its messages) from the index."""
        self.open()
        with self._vault_lock:
            try:
                path: Path | None = self.vault.locate(session_id)
            except (SessionNotFound, SessionDeleted):
                path = None
            deleted = self.vault.delete(session_id)
            if path is not None:
                self._index_written(path)
        return deleted

    def delete_message(self, message_id: str, session_id: str | None = None) -> bool:
        """Remove one message block from its file (seed 002 `delete(id)`); the session's
        count follows. Without `session_id` the mirror finds the session; an id held by
        several sessions then needs it (`InvalidInput`). Unknown: `MessageNotFound`."""
        self.open()
        if session_id is None:
            with translate_errors("Cannot query messages"), self.mirror.read() as conn:
                owners = conn.execute(
                    "SELECT DISTINCT session_id FROM messages WHERE id = ?", (message_id,)
                ).fetchall()
            if not owners:
                raise MessageNotFound(message_id)
            if len(owners) > 1:
                sessions = sorted(str(row[0]) for row in owners)
                raise InvalidInput(
                    f"Message id {message_id} is in {len(sessions)} sessions; say which with"
                    " the 'session' argument",
                    field="session",
                    details="sessions: " + ", ".join(sessions),
                )
            session_id = str(owners[0][0])
        with self._vault_lock:
            self.vault.delete_message(session_id, message_id)
            self._index_written(self.vault.locate(session_id))
        return True

    def get_or_create_session(
        self, key: Mapping[str, str | None], *, redacted: Redactions | None = None, **fields: Any
    ) -> tuple[SessionRecord, bool]:
        """The session with these five key fields, created if none exists (seed 001).

        Safe when processes race: the look-up and the creation run under a vault lock named
        after the key, and the creator indexes the file before releasing it. The secrets a
        creation redacted (in the title) are counted into `redacted` when given.

        Returns:
            (session, created)
        """
        self.open()
        clean = check_key(key)
        found = self._find_key(clean)
        if found is not None:
            return found, False
        lock_name = "key:" + "\x1f".join(clean[f] or "" for f in KEY_FIELDS)
        with self._vault_lock, self.vault.lock(lock_name):
            found = self._find_key(clean) or self._behind_key(clean)
            if found is not None:
                return found, False
            title = fields.pop("title", None) or " / ".join(v for v in clean.values() if v)
            present: dict[str, Any] = {k: v for k, v in clean.items() if v is not None}
            path, session = self.vault.create_session(
                title=title, redacted=redacted, **present, **fields
            )
            if self._index_written(path):
                return self._file_record(path), True
        return self._session_or_raise(session.id), True

    def _find_key(self, key: Mapping[str, str | None]) -> SessionRecord | None:
        with translate_errors("Cannot query sessions"), self.mirror.read() as conn:
            return queries.find_by_key(conn, key)

    def _index(self, path: Path) -> None:
        with translate_errors("Cannot index the session file"):
            self.syncer.index_path(path)
        self._kick()

    def _index_written(
        self, path: Path, apply: Callable[[], object] | None = None
    ) -> tuple[VaultWarning, ...]:
        """Index what a write just put in `path` (default: the whole file).

        The write is acknowledged once the file holds it, whatever the index does
        (issue 14 item 5): when the mirror cannot take it within `WRITE_INDEX_PATIENCE`
        seconds (locked by another process, a file-size limit, a full disk), the call
        still succeeds, with an `INDEX_BEHIND` warning; the file is queued here and
        indexed by the next write of this process, by the leader's watcher and
        reconcile, or at the next start, as after a crash. A client that retried would
        otherwise store the message twice.
        """
        try:
            with (
                self.mirror.patience(WRITE_INDEX_PATIENCE),
                translate_errors("Cannot index the session file"),
            ):
                if apply is None:
                    self.syncer.index_path(path)
                else:
                    apply()
        except IndexUnavailable as exc:
            log.warning("%s is written; the index is behind (%s) and catches up", path, exc)
            self._behind[path] = None
            if self._worker is not None:
                self._worker.request_reconcile()
            return (INDEX_BEHIND,)
        self._kick()
        return ()

    def _retry_behind(self) -> None:
        """Index the files whose writes the index missed (see `_index_written`); every
        call of this process tries first (`open`), so it reads its own writes again as
        soon as the mirror takes them."""
        with self._vault_lock:
            for path in list(self._behind):
                try:
                    with self.mirror.patience(0):  # still locked: leave it to the next call
                        self._index(path)
                except IndexUnavailable:
                    return
                self._behind.pop(path, None)

    def _behind_key(self, key: Mapping[str, str | None]) -> SessionRecord | None:
        """A session with these key fields among the files the index missed, so that a
        retried get_or_create_session finds the session its first call created."""
        for path in list(self._behind):
            try:
                session = self.vault.read(path)[0].session
            except (VaultError, OSError):
                continue
            if all(getattr(session, f) == key[f] for f in KEY_FIELDS):
                return self._file_record(path)
        return None

    def _file_record(self, path: Path) -> SessionRecord:
        """A session's record read from its file (when the mirror is behind)."""
        session = self.vault.read(path)[0].session
        rel = self.syncer.rel(path) or path.name
        return session_record(rel, session)

    def _kick(self) -> None:
        if self._worker is not None:
            self._worker.kick()
        if self._embedder is not None:
            self._embedder.kick()

    def _session_or_raise(self, session_id: str) -> SessionRecord:
        found = self.get_session(session_id)
        if found is None:
            raise SessionNotFound(session_id)
        return found

    # ------------------------------------------------------------------ queries

    @_repairing
    def get_session(self, session_id: str) -> SessionRecord | None:
        """The session with this id, or None (`AmbiguousSession` if copies claim it)."""
        self.open()
        with translate_errors("Cannot query sessions"), self.mirror.read() as conn:
            found = queries.get_session(conn, session_id)
        if found is None and self._catch_up(session_id):
            with translate_errors("Cannot query sessions"), self.mirror.read() as conn:
                found = queries.get_session(conn, session_id)
        return found

    @_repairing
    def session_ids_with_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        """Up to `limit` session ids starting with `prefix` (the CLI's short ids)."""
        self.open()
        with translate_errors("Cannot query sessions"), self.mirror.read() as conn:
            return queries.session_ids_with_prefix(conn, prefix, limit)

    def _catch_up(self, session_id: str) -> bool:
        """The mirror lacks this session: if a file holds it (the index is behind the files,
        e.g. just after the index was deleted), index that file now. True if it did."""
        try:
            path = self.vault.locate(session_id)
        except VaultError:
            return False
        self._index(path)
        return True

    def _session_query(self, session_id: str | None, query: Callable[[], _T]) -> _T:
        """Run a per-session query; a session the mirror does not know yet is caught up."""
        try:
            return query()
        except SessionNotFound:
            if session_id is None or not self._catch_up(session_id):
                raise
            return query()

    @_repairing
    def list_sessions(
        self, *, limit: int = 50, offset: int = 0, **filters: str | datetime | None
    ) -> list[SessionRecord]:
        """Sessions, newest `updated_at` first; filters: the five key fields, `status`,
        `created_after`, `created_before`, `updated_after`, `updated_before`."""
        self.open()
        with translate_errors("Cannot query sessions"), self.mirror.read() as conn:
            return queries.list_sessions(conn, filters=filters, limit=limit, offset=offset)

    @_repairing
    def get_messages(
        self,
        session_id: str,
        *,
        before: str | datetime | None = None,
        after: str | datetime | None = None,
        role: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[MessageRecord]:
        """A session's messages in order, optionally strictly between two times."""
        self.open()

        def query() -> list[MessageRecord]:
            with translate_errors("Cannot query messages"), self.mirror.read() as conn:
                return queries.get_messages(
                    conn,
                    session_id,
                    before=before,
                    after=after,
                    role=role,
                    limit=limit,
                    offset=offset,
                )

        return self._session_query(session_id, query)

    @_repairing
    def recent_messages(
        self, limit: int = 10, session_id: str | None = None
    ) -> list[MessageRecord]:
        """The latest messages (overall or of one session), oldest first."""
        self.open()

        def query() -> list[MessageRecord]:
            with translate_errors("Cannot query messages"), self.mirror.read() as conn:
                return queries.recent_messages(conn, limit, session_id)

        return self._session_query(session_id, query)

    @_repairing
    def count_messages(
        self, session_id: str | None = None, role: str | None = None, tool: str | None = None
    ) -> int:
        """How many messages, overall or in one session; of one role, calling or answering
        one tool (`tool`: its name, ASCII case folded)."""
        self.open()
        folded = check_tool(tool)

        def query() -> int:
            with translate_errors("Cannot count messages"), self.mirror.read() as conn:
                return queries.count_messages(conn, session_id, role, folded)

        return self._session_query(session_id, query)

    @_repairing
    def conversation_pairs(
        self, session_id: str | None = None, limit: int = 10
    ) -> list[ConversationPair]:
        """The latest user→assistant pairs, oldest first."""
        self.open()

        def query() -> list[ConversationPair]:
            with translate_errors("Cannot query messages"), self.mirror.read() as conn:
                return queries.conversation_pairs(conn, session_id, limit)

        return self._session_query(session_id, query)

    @_repairing
    def search(
        self,
        query: str,
        *,
        session_id: str | None = None,
        role: str | None = None,
        after: str | datetime | None = None,
        before: str | datetime | None = None,
        limit: int = 10,
        offset: int = 0,
        mode: str | None = None,
        tool: str | None = None,
        **key_fields: str | None,
    ) -> SearchResult:
        """`retrieval.search`: keyword, semantic or hybrid (docs/indexing.md,
        docs/retrieval.md)."""
        self.open()
        result = retrieval.search(
            self.stores,
            query,
            session_id=session_id,
            role=role,
            after=after,
            before=before,
            limit=limit,
            offset=offset,
            mode=mode,
            key_fields=key_fields,
            tool=tool,
        )
        if result.stale or self._reconciled(self.mirror.thread_identity()):
            return result
        return replace(result, stale=True) if self.catching_up() else result

    def _reconciled(self, ident: Identity | None) -> bool:
        """Is `ident` (the mirror file this thread's search has just read) one known to
        have been reconciled (`catching_up` found so)? No read, no stat: every search asks."""
        return ident is not None and ident == self._reconciled_on

    @_repairing
    def catching_up(self) -> bool:
        """True until a first reconcile has finished on this mirror (a new or recreated
        index, also one a running leader just made in place of a damaged one, may not hold
        every session file yet): answers are then marked `stale`, never a confident 0 for
        a vault that has messages."""
        current = self.mirror.identity()
        if current is None or current != self._reconciled_on:
            self.open()
            with translate_errors("Cannot read index status"), self.mirror.read() as conn:
                reconciled = get_state(conn, "last_reconcile_ns") is not None
                on = self.mirror.thread_identity()
            if not reconciled:
                return True
            self._reconciled_on = on
        return False

    def _await_repair(self) -> bool:
        """This thread met a damaged mirror: wait (up to `REPAIR_WAIT`) until the leader
        has replaced the file, or found it sound. True when the query should run again.

        The leader is this process's worker or another server's (a follower whose leader
        is gone takes the lead to do it). A one-shot command with no leader does not wait:
        the `.check` marker makes the next start repair the mirror."""
        damaged = self.mirror.thread_identity()
        worker = self._worker
        if worker is None:
            if not self.leadership.held and self.leadership.try_acquire():
                self.leadership.release()
                return False  # nobody leads
        else:
            worker.request_repair()
        deadline = time.monotonic() + REPAIR_WAIT
        while time.monotonic() < deadline:
            if self.mirror.identity() != damaged or not self.mirror.check_marker.exists():
                return True
            time.sleep(0.05)
        return False

    @_repairing
    def get_context(
        self,
        query: str,
        max_tokens: int,
        *,
        session_id: str | None = None,
        role: str | None = None,
        after: str | datetime | None = None,
        before: str | datetime | None = None,
        mode: str | None = None,
    ) -> Context:
        """The conversation pairs most relevant to `query`, grouped by session in time
        order, with a count of the hits that did not fit; the whole result as the tool sends
        it (`indexer.context.render`) within `max_tokens` (estimated; 100..1,000,000)
        (indexer/context.py, docs/retrieval.md)."""
        self.open()
        return build_context(
            self.stores,
            query,
            max_tokens,
            session_id=session_id,
            role=role,
            after=after,
            before=before,
            mode=mode,
        )

    # ------------------------------------------------------------------ for tests and doctor

    def dump(self) -> dict[str, Any]:
        """The mirror's canonical content: what `expected_dump(vault)` must equal."""
        self.open()
        with self.mirror.read() as conn:
            return _dump(conn)


def _iso_ns(ns: int) -> str:
    moment = datetime.fromtimestamp(ns / 1e9, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _dump(conn: Any) -> dict[str, Any]:
    return dump_mirror(conn)
