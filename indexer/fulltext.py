"""The tantivy full-text index: one document per message, derived from the mirror.

Only the leader process writes it (one long-lived `IndexWriter`; tantivy allows one per
index). It follows the mirror through `fulltext_queue`: `apply_pending()` reads the queue
and the rows it names in one SQLite snapshot, commits them to tantivy, then records the
last applied sequence number. Every process searches: it reloads its reader when that
number moves, and covers the changes still queued (the lag) with a small in-memory
"overlay" index of their current rows, so a search sees every write already in the
mirror (read-your-writes) in any process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tantivy

from vault.derived import claim_dir, clear_foreign, empty_dir
from vault.message_views import fold_tool_name, search_text, tool_names

from .errors import IndexUnavailable
from .mirror import Mirror, get_state, set_state
from .records import SearchHit, SearchResult, to_datetime
from .schema import FULLTEXT_VERSION, KEY_FIELDS, build_fulltext_schema, default_analyzer

__all__ = ("Candidate", "FullText")

log = logging.getLogger("codearchitect.indexer.fulltext")

_DOC_SELECT = (
    "SELECT m.file_id, m.id, m.session_id, m.role, m.content, m.metadata, m.created_at, "
    "s.title, "
    f"{', '.join('s.' + f for f in KEY_FIELDS)}, s.topic, "
    "(SELECT f.content FROM messages AS f WHERE f.file_id = m.file_id AND f.position = 0) "
    "FROM messages AS m JOIN sessions AS s ON s.file_id = m.file_id"
)
# What `_pending` needs when nothing is queued, in one statement (one snapshot): the
# applied sequence number, the generation, the schema version, and whether anything waits.
_QUEUE_STATE = (
    "SELECT (SELECT value FROM state WHERE key = 'fulltext_seq') AS applied, "
    "(SELECT value FROM state WHERE key = 'fulltext_generation') AS generation, "
    "(SELECT value FROM state WHERE key = 'fulltext_version') AS version, "
    "EXISTS (SELECT 1 FROM fulltext_queue WHERE seq > "
    "coalesce((SELECT value FROM state WHERE key = 'fulltext_seq'), 0)) AS queued"
)
SNIPPET_CHARS = 200
_OPEN_ATTEMPTS = 6  # a reader opening while the leader recreates the folder (~0.4 s)
# Metadata JSON that may hold thinking or tool calls (only then is it decoded).
_MAY_HAVE_VIEWS = re.compile(r'"(?:thinking|toolCalls|toolResults|toolName)"')


class _Snippets:
    """The snippet generator of one searcher and query, made when a first snippet is
    asked for: a search without snippets (get_context's) or a hybrid search whose hits
    all come from the semantic side never pays for one."""

    __slots__ = ("_generator", "_query", "_schema", "_searcher")

    def __init__(self, searcher: tantivy.Searcher, query: tantivy.Query, schema: tantivy.Schema):
        self._searcher = searcher
        self._query = query
        self._schema = schema
        self._generator: tantivy.SnippetGenerator | None = None

    def generator(self) -> tantivy.SnippetGenerator:
        generator = self._generator
        if generator is None:  # two threads may both make one: the same, harmless
            generator = tantivy.SnippetGenerator.create(
                self._searcher, self._query, self._schema, "content"
            )
            generator.set_max_num_chars(SNIPPET_CHARS)
            self._generator = generator
        return generator


# A match before its snippet: (-score, created_at, message_id, score, document, snippet
# generator of its searcher, made on first use); the first three order matches (ties by
# time, then id).
_Found = tuple[float, str, str, float, tantivy.Document, _Snippets]


@dataclass(frozen=True)
class Candidate:
    """A match whose snippet is made only if it is shown (`FullText.candidates`)."""

    hit: SearchHit  # with no snippet yet
    doc: tantivy.Document
    snippets: _Snippets

    def with_snippet(self) -> SearchHit:
        snippet, highlights = _snippet(self.doc, self.snippets)
        return replace(self.hit, snippet=snippet, highlights=highlights)


@dataclass(frozen=True)
class _Pending:
    """Queued changes not yet in tantivy, as of one mirror snapshot."""

    applied: int
    generation: int
    top: int
    files: frozenset[int]
    keys: frozenset[str]
    rows: tuple[sqlite3.Row, ...] | None  # None: too many to overlay
    overlay: tantivy.Searcher | None = None  # the overlay already built for this queue state
    whole: bool = False  # a rebuild is pending: the overlay holds every message, main is skipped
    outdated: bool = False  # the committed index has another schema version: not read


class FullText:
    """The tantivy index directory `.codearchitect/index/fulltext/`."""

    def __init__(
        self,
        directory: Path,
        *,
        heap_bytes: int = 64_000_000,
        overlay_max: int = 5000,
        state_root: Path | None = None,
    ):
        self.directory = directory
        # The folder below which every component is claimed as a real folder before the
        # writer uses it (vault/derived.py): `.codearchitect/`.
        self.state_root = state_root or directory.parent
        self.schema = build_fulltext_schema()
        self.analyzer = default_analyzer()
        self.heap_bytes = heap_bytes
        self.overlay_max = overlay_max
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None
        self._seen: tuple[int, int] | None = None
        self._reader_lock = threading.Lock()
        self._write_lock = threading.Lock()  # apply_pending vs. bulk
        # (generation, applied, top, whole) of the queue state it holds, and its searcher
        self._overlay: tuple[tuple[int, int, int, bool], tantivy.Searcher] | None = None
        self._overlay_lock = threading.Lock()
        self._overlay_index: tantivy.Index | None = None
        self._overlay_writer: tantivy.IndexWriter | None = None
        self._last_gc = time.monotonic()
        self._last_heading: tuple[tuple[Any, ...], str] | None = None
        self._idle: _Pending | None = None  # `_pending`'s last answer with nothing queued

    # ------------------------------------------------------------------ writer (leader)

    @property
    def writing(self) -> bool:
        return self._writer is not None

    def open_writer(self, mirror: Mirror) -> None:
        """Open (or create) the index for writing; only the leader calls this."""
        claim_dir(self.directory, self.state_root)
        # Links and special files never come from tantivy: removed, with the temp files a
        # killed writer left (safe: we hold the writer role).
        clear_foreign(self.directory, temp=True)
        with mirror.read() as conn:
            version = get_state(conn, "fulltext_version")
        index = None
        if (self.directory / "meta.json").exists() and version == FULLTEXT_VERSION:
            try:
                index = tantivy.Index(self.schema, str(self.directory))
            except ValueError as exc:
                log.warning("full-text index unusable (%s); recreating it", exc)
        if index is None:
            index = self._recreate(mirror)
        deadline = time.monotonic() + 10
        while True:
            try:
                self._writer = index.writer(self.heap_bytes, 1)
                break
            except ValueError as exc:
                if "LockBusy" not in str(exc) or time.monotonic() > deadline:
                    raise IndexUnavailable(
                        "Cannot open the full-text writer", details=str(exc)
                    ) from exc
                time.sleep(0.05)
        with self._reader_lock:
            self._index = index
            self._seen = None

    def close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                writer.rollback()
            with contextlib.suppress(ValueError, RuntimeError):
                writer.wait_merging_threads()

    @contextlib.contextmanager
    def bulk(self, mirror: Mirror) -> Iterator[Callable[[Iterable[tuple[Any, ...]]], None]]:
        """Replace every document by the rows fed in (a rebuild, leader only).

        Queues one 'all' entry first and yields `feed(rows)` (rows with the columns of
        `_DOC_SELECT`); on success commits and marks the queue applied up to that entry, so
        changes other writers queue meanwhile are applied after it as usual. Queue
        absorption (`apply_pending`) pauses meanwhile. On an exception nothing is
        committed and the 'all' entry stays queued: the next absorption rebuilds tantivy
        from the mirror.
        """
        writer = self._writer
        if writer is None:
            raise IndexUnavailable("This process does not hold the full-text writer")
        with self._write_lock:
            with mirror.write() as conn:
                seq = mirror.enqueue(conn, "all", None)
            writer.delete_all_documents()
            try:
                yield lambda rows: self._add_rows(writer, rows)
            except BaseException:
                writer.rollback()
                raise
            _commit_applied(mirror, writer, seq)

    def _add_rows(
        self, writer: tantivy.IndexWriter, rows: Iterable[sqlite3.Row | tuple[Any, ...]]
    ) -> None:
        for row in rows:
            writer.add_document(self._doc(row))

    def apply_pending(self, mirror: Mirror, batch: int = 50_000) -> int:
        """Absorb queued mirror changes into tantivy; returns how many entries were applied
        (0 also while a bulk rebuild holds the writer)."""
        writer = self._writer
        if writer is None:
            raise IndexUnavailable("This process does not hold the full-text writer")
        if not self._write_lock.acquire(blocking=False):
            return 0
        try:
            return self._apply_pending(mirror, writer, batch)
        finally:
            self._write_lock.release()

    def _apply_pending(self, mirror: Mirror, writer: tantivy.IndexWriter, batch: int) -> int:
        with mirror.read() as conn:
            applied = int(get_state(conn, "fulltext_seq") or 0)
            entries = conn.execute(
                "SELECT seq, kind, file_id, message_id FROM fulltext_queue WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (applied, batch),
            ).fetchall()
            if not entries:
                return 0
            top = int(entries[-1][0])
            try:
                if any(e[1] == "all" for e in entries):
                    writer.delete_all_documents()
                    self._add_rows(writer, conn.execute(_DOC_SELECT))
                else:
                    self._apply_entries(conn, writer, entries)
            except BaseException:
                writer.rollback()
                raise
        _commit_applied(mirror, writer, top)
        if time.monotonic() - self._last_gc > 60:
            self._last_gc = time.monotonic()
            with contextlib.suppress(ValueError):
                writer.garbage_collect_files()
        return len(entries)

    def _apply_entries(
        self, conn: sqlite3.Connection, writer: tantivy.IndexWriter, entries: Sequence[Any]
    ) -> None:
        files = {int(e[2]) for e in entries if e[1] == "file"}
        keys = {(int(e[2]), e[3]) for e in entries if e[1] == "msg" and int(e[2]) not in files}
        for file_id in files:
            writer.delete_documents_by_term("file", str(file_id))
            for row in conn.execute(f"{_DOC_SELECT} WHERE m.file_id = ?", (file_id,)):
                writer.add_document(self._doc(row))
        for file_id, message_id in keys:
            writer.delete_documents_by_term("key", f"{file_id}/{message_id}")
            row = conn.execute(
                f"{_DOC_SELECT} WHERE m.file_id = ? AND m.id = ?", (file_id, message_id)
            ).fetchone()
            if row is not None:
                writer.add_document(self._doc(row))

    def _recreate(self, mirror: Mirror) -> tantivy.Index:
        self.close_writer()
        # The rebuild is queued before the old index goes: a search meanwhile (any
        # process) sees it pending and answers from an overlay of the mirror, never from
        # the new, empty index as if nothing matched.
        with mirror.write() as conn:
            generation = int(get_state(conn, "fulltext_generation") or 0) + 1
            set_state(conn, "fulltext_generation", generation)
            set_state(conn, "fulltext_version", FULLTEXT_VERSION)
            set_state(conn, "fulltext_seq", 0)
            mirror.enqueue(conn, "all", None)
        empty_dir(self.directory)  # through a descriptor of the real folder: no link followed
        index = tantivy.Index(self.schema, str(self.directory))
        log.info("created the full-text index %s (generation %d)", self.directory, generation)
        return index

    def _doc(self, row: sqlite3.Row | tuple[Any, ...]) -> tantivy.Document:
        row = tuple(row)
        file_id, mid, sid, role, content, metadata, created_at, title, *keys, topic, first = row
        names: list[str] = []
        if _MAY_HAVE_VIEWS.search(metadata):
            meta = json.loads(metadata)
            content = search_text(content, meta)
            names = tool_names(meta)
        # Field by field: the same document as `Document(**fields)`, which costs more per
        # field (a rebuild makes one per message).
        doc = tantivy.Document()
        add = doc.add_text
        add("key", f"{file_id}/{mid}")
        add("file", str(file_id))
        add("message_id", mid)
        add("session_id", sid)
        add("role", role)
        add("content", content)
        add("title", title)
        add("heading", self._heading(file_id, title, topic, first))
        add("created_at", created_at)
        for name in names:
            doc.add_text("tool", fold_tool_name(name))
        for name, value in zip(KEY_FIELDS, keys, strict=True):
            if value is not None:
                doc.add_text(name, value)
        moment = to_datetime(created_at)
        if moment is not None:
            doc.add_date("created", moment)
        return doc

    def _heading(self, file_id: int, title: str, topic: str | None, first: str | None) -> str:
        """The `heading` field of a file's documents, computed once per file in a row."""
        key = (file_id, title, topic, first)
        cached = self._last_heading
        if cached is not None and cached[0] == key:
            return cached[1]
        value = heading(title, topic, first or "")
        self._last_heading = (key, value)
        return value

    # ------------------------------------------------------------------ search (everyone)

    def vocabulary(self, mirror: Mirror) -> Callable[[str], bool]:
        """Whether a word occurs in `content` of the committed index, for leaving the forms
        of a query word that occur nowhere out of the query (indexer/query.py). Every word
        passes while changes are still queued (their words are not in the committed index
        yet). The index is looked at on the first call only (a query of `+words` never
        asks)."""
        searcher: list[tantivy.Searcher | None] = []

        def known(word: str) -> bool:
            if not searcher:
                pending = self._pending(mirror)
                index = None
                if pending.top <= pending.applied and not pending.outdated:
                    index = self._refresh(pending)
                searcher.append(None if index is None else index.searcher())
            current = searcher[0]
            return current is None or bool(current.doc_freq("content", word))

        return known

    def frequencies(self, mirror: Mirror) -> tuple[Callable[[str], int], int]:
        """How many documents of the committed index hold a word in `content`, and how
        many documents it has (0 while there is none): for the semantic query
        (indexer/focus.py)."""
        index = self._refresh(self._pending(mirror))
        if index is None:
            return (lambda word: 0), 0
        searcher = index.searcher()
        return (lambda word: int(searcher.doc_freq("content", word))), int(searcher.num_docs)

    def outdated(self, mirror: Mirror) -> bool:
        """Is the committed index of another schema version (the leader recreates it)?"""
        with mirror.read() as conn:
            return get_state(conn, "fulltext_version") not in (None, FULLTEXT_VERSION)

    def num_docs(self, mirror: Mirror) -> int:
        """Documents in the committed index (as of the leader's last commit)."""
        index = self._refresh(self._pending(mirror))
        return 0 if index is None else index.searcher().num_docs

    def search(
        self,
        mirror: Mirror,
        query: tantivy.Query,
        filters: Iterable[tantivy.Query],
        *,
        limit: int,
        offset: int,
        count: bool = True,
        snippets: bool = True,
    ) -> SearchResult:
        """Rank messages matching `query` and every filter; see the module docstring.
        Snippets are made for the page returned only (none with `snippets=False`).

        With `count=False` the total is not counted (costly for broad OR queries over a
        large index): `total` is then the number of hits returned.
        """
        found, total, stale = self._ranked(mirror, query, filters, offset + limit, count)
        hits = tuple(_hit(f, f[5] if snippets else None) for f in found[offset:])
        return SearchResult(hits, total if count else len(hits), stale)

    def candidates(
        self, mirror: Mirror, query: tantivy.Query, filters: Iterable[tantivy.Query], limit: int
    ) -> tuple[list[Candidate], bool]:
        """The best `limit` matches, uncounted, each without its snippet until asked
        (`Candidate.with_snippet`): the keyword side of hybrid search returns a few of
        its candidates, and a snippet costs more than the rest of a hit."""
        found, _, stale = self._ranked(mirror, query, filters, limit, count=False)
        return [Candidate(_hit(f, None), f[4], f[5]) for f in found], stale

    def _ranked(
        self,
        mirror: Mirror,
        query: tantivy.Query,
        filters: Iterable[tantivy.Query],
        want: int,
        count: bool,
    ) -> tuple[list[_Found], int, bool]:
        """The best `want` matches in order (documents fetched, no snippet made yet),
        the total (when `count`), and whether the answer is stale."""
        pending = self._pending(mirror)
        main_index = self._refresh(pending)
        if main_index is None and not pending.whole:
            # No committed index to read (lost, or not made yet): what the mirror holds is
            # answered as during a rebuild, not as "nothing matches".
            with mirror.read() as conn:
                pending = self._pending_rebuild(conn, pending.applied, pending.generation)
        filters = list(filters)
        clauses = [(tantivy.Occur.Must, query)] + [(tantivy.Occur.Must, f) for f in filters]
        excluded = list(clauses)
        if pending.keys:
            keys = tantivy.Query.term_set_query(self.schema, "key", sorted(pending.keys))
            excluded.append((tantivy.Occur.MustNot, keys))
        if pending.files:
            files = tantivy.Query.term_set_query(
                self.schema, "file", [str(f) for f in pending.files]
            )
            excluded.append((tantivy.Occur.MustNot, files))
        found: list[_Found] = []
        total = 0
        sources = []
        if main_index is not None and not pending.whole:
            sources.append((main_index.searcher(), tantivy.Query.boolean_query(excluded)))
        stale = pending.rows is None and pending.top > pending.applied
        if pending.overlay is not None or pending.rows:
            overlay = pending.overlay or self._overlay_searcher(pending)
            sources.append((overlay, tantivy.Query.boolean_query(clauses)))
        for searcher, full in sources:
            result = searcher.search(full, max(want, 1), count=count)
            if count:
                total += int(getattr(result, "count", 0) or 0)
            if not result.hits or want == 0:
                continue
            snippets = _Snippets(searcher, query, self.schema)
            for score, address in result.hits[:want]:
                doc = searcher.doc(address)
                created_at = str(doc.get_first("created_at") or "")
                message_id = str(doc.get_first("message_id"))
                found.append((-score, created_at, message_id, score, doc, snippets))
        # Ties are broken by time, then id, so pages of the same result never overlap.
        found.sort(key=lambda t: t[:3])
        return found[:want], total, stale

    def _pending(self, mirror: Mirror) -> _Pending:
        # Every search asks; nearly always nothing is queued: one statement says so (a
        # read transaction of five cost about a sixth of a filtered search).
        row = mirror.read_row(_QUEUE_STATE)
        if row is not None and not row["queued"] and row["version"] in (None, FULLTEXT_VERSION):
            applied = int(row["applied"] or 0)
            generation = int(row["generation"] or 0)
            idle = self._idle  # the same state as last time: the same (immutable) answer
            if idle is None or idle.applied != applied or idle.generation != generation:
                idle = _Pending(applied, generation, applied, frozenset(), frozenset(), ())
                self._idle = idle
            return idle
        with mirror.read() as conn:
            applied = int(get_state(conn, "fulltext_seq") or 0)
            generation = int(get_state(conn, "fulltext_generation") or 0)
            if get_state(conn, "fulltext_version") not in (None, FULLTEXT_VERSION):
                return self._pending_rebuild(conn, applied, generation, outdated=True)
            entries = conn.execute(
                "SELECT seq, kind, file_id, message_id FROM fulltext_queue WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (applied, self.overlay_max + 1),
            ).fetchall()
            if not entries:
                return _Pending(applied, generation, applied, frozenset(), frozenset(), ())
            top = int(entries[-1][0])
            files = frozenset(int(e[2]) for e in entries if e[1] == "file")
            keys = frozenset(
                f"{e[2]}/{e[3]}" for e in entries if e[1] == "msg" and int(e[2]) not in files
            )
            cached = self._overlay  # one read: a snapshot even if another thread refills it
            fresh = cached is not None and cached[0] == (generation, applied, top, False)
            searcher = cached[1] if cached is not None and fresh else None
            if any(e[1] == "all" for e in entries):
                return self._pending_rebuild(conn, applied, generation, top, files, keys)
            if len(entries) > self.overlay_max:
                return _Pending(applied, generation, top, frozenset(), frozenset(), None)
            if searcher is not None:
                return _Pending(applied, generation, top, files, keys, (), overlay=searcher)
            rows: list[sqlite3.Row] = []
            for file_id in files:
                rows += conn.execute(f"{_DOC_SELECT} WHERE m.file_id = ?", (file_id,)).fetchall()
            for key in keys:
                fid, mid = key.split("/", 1)
                rows += conn.execute(
                    f"{_DOC_SELECT} WHERE m.file_id = ? AND m.id = ?", (int(fid), mid)
                ).fetchall()
                if len(rows) > self.overlay_max:
                    return _Pending(applied, generation, top, frozenset(), frozenset(), None)
            return _Pending(applied, generation, top, files, keys, tuple(rows))

    def _pending_rebuild(
        self,
        conn: sqlite3.Connection,
        applied: int,
        generation: int,
        top: int | None = None,
        files: frozenset[int] = frozenset(),
        keys: frozenset[str] = frozenset(),
        *,
        outdated: bool = False,
    ) -> _Pending:
        """The index is being rebuilt from the mirror (or must be: `outdated`, its schema
        is another version's): while the mirror is small, an overlay of all of it answers
        instead (read-your-writes from the first write); else the answer is stale."""
        if top is None:
            top = int(
                conn.execute(
                    "SELECT coalesce(max(seq), ?) FROM fulltext_queue", (applied,)
                ).fetchone()[0]
            )
            top = max(top, applied + 1)  # never equal to `applied`: something is pending
        count = int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
        if count > self.overlay_max:
            return _Pending(
                applied, generation, top, frozenset(), frozenset(), None, None, outdated, outdated
            )
        cached = self._overlay
        if cached is not None and cached[0] == (generation, applied, top, True):
            return _Pending(applied, generation, top, files, keys, (), cached[1], True, outdated)
        rows_all = tuple(conn.execute(_DOC_SELECT).fetchall())
        return _Pending(applied, generation, top, files, keys, rows_all, None, True, outdated)

    def _overlay_searcher(self, pending: _Pending) -> tantivy.Searcher:
        """A searcher over an in-RAM index of `pending.rows` (see the module docstring)."""
        version = (pending.generation, pending.applied, pending.top, pending.whole)
        with self._overlay_lock:
            cached = self._overlay
            if cached is not None and cached[0] == version:
                return cached[1]
            # One in-RAM index and writer per process, refilled for each queue state (a
            # searcher taken earlier keeps its snapshot). A new index and writer each time
            # cost a new indexing thread, whose malloc arena glibc keeps: the server grew
            # by ~200 MB over a few hundred store+search pairs.
            if self._overlay_index is None or self._overlay_writer is None:
                self._overlay_index = tantivy.Index(self.schema)
                self._overlay_writer = self._overlay_index.writer(15_000_000, 1)
            index, writer = self._overlay_index, self._overlay_writer
            writer.delete_all_documents()
            self._add_rows(writer, pending.rows or ())
            writer.commit()
            index.reload()
            searcher = index.searcher()
            self._overlay = (version, searcher)
            return searcher

    def _refresh(self, pending: _Pending) -> tantivy.Index | None:
        """This process's reader, reloaded if the leader committed since we last looked."""
        if pending.outdated:
            return None
        with self._reader_lock:
            seen = (pending.generation, pending.applied)
            if self._seen == seen and self._index is not None:
                return self._index
            reopen = self._index is None or (self._seen is not None and self._seen[0] != seen[0])
            if reopen and self._writer is None:
                self._index = self._open_reader()
            if self._index is None:
                return None
            for attempt in range(3):
                try:
                    self._index.reload()
                    break
                except ValueError as exc:  # a segment merged away under us: read meta again
                    if attempt < 2:
                        time.sleep(0.01)
                    elif self._writer is None:  # the folder itself was recreated: open it
                        self._index = self._open_reader()
                        if self._index is None:
                            return None
                    else:
                        # The folder went away under our writer (the index folder deleted):
                        # nothing to read until the leader recreates it (worker.py); the
                        # search answers from the mirror meanwhile (see `search`).
                        log.warning("cannot reload the full-text index (%s)", exc)
                        return None
            self._seen = seen
            return self._index

    def _open_reader(self) -> tantivy.Index | None:
        for attempt in range(_OPEN_ATTEMPTS):
            if not _plain_folder(self.directory / "meta.json"):
                return None  # none yet, or planted links the leader has not replaced yet
            try:
                index = tantivy.Index(self.schema, str(self.directory))
            except ValueError as exc:
                # The leader may be recreating the folder (a new mirror, see worker.py):
                # a meta.json naming segments it has just removed. Look again.
                if attempt == _OPEN_ATTEMPTS - 1:
                    raise IndexUnavailable(
                        "Cannot open the full-text index", details=str(exc)
                    ) from exc
                time.sleep(0.02 * (attempt + 1))
                continue
            index.config_reader("manual")
            return index
        return None


def heading(title: str, topic: str | None, first: str) -> str:
    """The `heading` field: the words of the session's title and topic that its first
    message does not hold. A title made from the first message (what `store_session` and
    a new session do without a topic) adds nothing; a title or topic someone chose makes
    the session's messages findable by its words, ranked below the messages holding them."""
    seen = set(_WORDS.findall(first.lower()))
    words = _WORDS.findall(f"{title} {topic or ''}".lower())
    return " ".join(dict.fromkeys(w for w in words if w not in seen))


_WORDS = re.compile(r"[^\W_]+")


def _commit_applied(mirror: Mirror, writer: tantivy.IndexWriter, seq: int) -> None:
    """Commit tantivy, then record the queue as applied up to `seq` (in that order: a
    crash between the two re-applies entries, which is harmless, and never skips any)."""
    writer.commit()
    with mirror.write() as conn:
        set_state(conn, "fulltext_seq", seq)
        conn.execute("DELETE FROM fulltext_queue WHERE seq <= ?", (seq,))


def _hit(found: _Found, snippets: _Snippets | None) -> SearchHit:
    """The hit a match is; with its snippet unless `snippets` is None (then empty)."""
    _, created_at, message_id, score, doc, _ = found
    snippet, highlights = ("", ()) if snippets is None else _snippet(doc, snippets)
    return SearchHit(
        message_id=message_id,
        session_id=str(doc.get_first("session_id")),
        session_title=str(doc.get_first("title") or ""),
        role=str(doc.get_first("role")),
        created_at=created_at,
        score=float(score),
        snippet=snippet,
        highlights=highlights,
    )


def _snippet(doc: tantivy.Document, snippets: _Snippets) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The best fragment of the message's text with its highlighted ranges (character
    offsets), else the text's start."""
    snippet = snippets.generator().snippet_from_doc(doc)
    fragment = snippet.fragment()
    if not fragment:
        return str(doc.get_first("content") or "")[:SNIPPET_CHARS], ()
    raw = fragment.encode("utf-8")
    highlights = tuple(
        (
            len(raw[: r.start].decode("utf-8", "ignore")),
            len(raw[: r.end].decode("utf-8", "ignore")),
        )
        for r in snippet.highlighted()
    )
    return fragment, highlights


def _plain_folder(meta: Path) -> bool:
    """Is `meta`'s folder a real folder holding `meta` and no link or special file?"""
    try:
        if not stat.S_ISDIR(os.lstat(meta.parent).st_mode):
            return False
        with os.scandir(meta.parent) as entries:
            modes = {e.name: e.stat(follow_symlinks=False).st_mode for e in entries}
    except OSError:
        return False
    return meta.name in modes and all(stat.S_ISREG(m) or stat.S_ISDIR(m) for m in modes.values())
