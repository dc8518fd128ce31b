"""Semantic search, opt-in per project: the setting, the background embedding, the
vector side of search, and reciprocal-rank fusion with keyword search (docs/retrieval.md).

- The setting lives in `.codearchitect/config.json` (`{"semantic": {"enabled": true,
  "model": "minilm"}}`), written by `codearchitect semantic enable|disable`; every
  process re-reads it when the file changes. `CODEARCHITECT_EMBED_MODEL` overrides the
  model ("minilm", or "hash": the tiny deterministic model tests use).
- Only the leader embeds (`EmbedWorker`): it takes messages that have no vectors yet,
  newest first, a batch at a time, cuts them into chunks, reuses every chunk already in
  the content-addressed cache, embeds the others, appends them to the vector file and then
  records, in the mirror, which rows each message uses (`vec_msgs`, `vec_rows`). A message
  whose text changed while it was being embedded is skipped and taken again later.
  `store_message` never waits for any of this.
- Every process searches: it encodes the query, scores the memory-mapped vectors, and
  resolves rows to live messages through the mirror, with the same filters as keyword
  search. A message's score is its best chunk's.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vault.files import write_atomic

from .embedder import (
    INSTALL_HINT,
    MINILM_ID,
    Embedder,
    HashEmbedder,
    SemanticUnavailable,
    load_embedder,
    minilm_dir,
    semantic_extra_missing,
)
from .mirror import Mirror, get_state, set_state
from .vectors import PREFILTER_MIN_ROWS, VectorStore, chunk_key, text_key_function, top_k

__all__ = (
    "MODELS",
    "EmbedWorker",
    "MessageFilter",
    "SemanticConfig",
    "SemanticIndex",
    "VectorHit",
    "check_installed",
    "read_config",
    "rrf",
    "write_config",
)

log = logging.getLogger("codearchitect.indexer.semantic")

CONFIG_NAME = "config.json"
RRF_K = 60
# name -> (model id, dimensions): known without loading the model
MODELS: dict[str, tuple[str, int]] = {
    "minilm": (MINILM_ID, 384),
    "hash": (HashEmbedder().model_id, HashEmbedder().dim),
}
CACHED_BATCH = 4096  # messages per call whose whole text is in the cache (no model)
SELECTIVE_ROWS = 20_000  # a filter passing fewer rows: score just those
PREFILTER_EXTRA = 256  # rows rescored exactly beyond 3 x wanted + 32
SCAN_THREADS = min(2, os.cpu_count() or 1)  # threads for the int8 pass over every row
REDUCED = True  # use the reduced first pass where the store has one (vectors.py)
COMPACT_EVERY = 60.0  # seconds between the embedding thread's compaction checks
COMPACT_MIN_DEAD = 1024
COMPACT_MIN_SHARE = 0.2
_ANY_PENDING_SQL = (
    "SELECT 1 FROM messages AS m WHERE NOT EXISTS (SELECT 1 FROM vec_msgs AS v WHERE v.pk = m.pk) "
    "LIMIT 1"
)
_PENDING_SQL = (
    "SELECT m.pk, m.content FROM messages AS m "
    "WHERE NOT EXISTS (SELECT 1 FROM vec_msgs AS v WHERE v.pk = m.pk) "
    "ORDER BY m.created_at DESC, m.pk DESC LIMIT ?"
)


# ---------------------------------------------------------------------- the setting


@dataclass(frozen=True)
class SemanticConfig:
    enabled: bool = False
    model: str = "minilm"


def read_config(vault_dir: Path) -> SemanticConfig:
    """The project's semantic setting (disabled when the file is missing or unreadable)."""
    try:
        data = json.loads((vault_dir / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    section = data.get("semantic") if isinstance(data, dict) else None
    section = section if isinstance(section, dict) else {}
    model = os.environ.get("CODEARCHITECT_EMBED_MODEL") or section.get("model") or "minilm"
    return SemanticConfig(enabled=section.get("enabled") is True, model=str(model))


def write_config(vault_dir: Path, *, enabled: bool, model: str | None = None) -> SemanticConfig:
    """Switch semantic search on or off for the project (other keys are kept)."""
    path = vault_dir / CONFIG_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    old = data.get("semantic")
    section: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
    section["enabled"] = enabled
    if model is not None:
        section["model"] = model
    data["semantic"] = section
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    return read_config(vault_dir)


def check_installed(model: str) -> None:
    """`SemanticUnavailable` naming the install command if `model` cannot run here."""
    if model not in MODELS:
        raise SemanticUnavailable(f"Unknown embedding model {model!r}", details="minilm, hash")
    missing = semantic_extra_missing()
    if missing:
        raise SemanticUnavailable(
            f"Semantic search needs the 'semantic' extra ({', '.join(missing)} missing)",
            details=INSTALL_HINT,
        )
    if model == "minilm" and minilm_dir() is None:
        raise SemanticUnavailable(
            "The all-MiniLM-L6-v2 weights are not installed", details=INSTALL_HINT
        )


# ---------------------------------------------------------------------- filters, hits


@dataclass(frozen=True)
class MessageFilter:
    """The filters of keyword search, as SQL on the mirror (bounds are canonical times)."""

    session_id: str | None = None
    role: str | None = None
    after: str | None = None
    before: str | None = None
    key_fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.session_id or self.role or self.after or self.before or self.key_fields)

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value, op in (
            ("m.session_id", self.session_id, "="),
            ("m.role", self.role, "="),
            ("m.created_at", self.after, ">"),
            ("m.created_at", self.before, "<"),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        for name, value in self.key_fields.items():
            clauses.append(f"s.{name} = ?")  # names checked against KEY_FIELDS by the caller
            params.append(value)
        return (" AND ".join(clauses) or "1"), params


@dataclass(frozen=True)
class VectorHit:
    pk: int
    score: float
    chunk: int


def rrf(rankings: Sequence[Sequence[Any]], k: int = RRF_K) -> dict[Any, float]:
    """Reciprocal rank fusion: key -> sum over lists of 1 / (k + rank), rank from 1."""
    fused: dict[Any, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
    return fused


# ---------------------------------------------------------------------- the index


class SemanticIndex:
    """A project's vectors: embedding (leader) and vector search (every process)."""

    def __init__(
        self,
        mirror: Mirror,
        index_dir: Path,
        vault_dir: Path,
        *,
        embedder: Embedder | None = None,
    ) -> None:
        self.mirror = mirror
        self.index_dir = index_dir
        self.vault_dir = vault_dir
        self._fixed = embedder  # tests inject a model
        self._config: tuple[float, SemanticConfig] | None = None
        self._stores: dict[str, VectorStore] = {}
        self._writer_sid: str | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()  # embedding and compaction: one at a time
        self._caught_up: dict[tuple[Any, ...], bool] = {}
        self.embed_calls = 0  # texts sent to the model (tests check cache reuse)

    # ------------------------------------------------------------------ setting and model

    def config(self) -> SemanticConfig:
        path = self.vault_dir / CONFIG_NAME
        try:
            stamp = path.stat().st_mtime
        except OSError:
            stamp = -1.0
        cached = self._config
        if cached is None or cached[0] != stamp:
            cached = (stamp, read_config(self.vault_dir))
            self._config = cached
        return cached[1]

    @property
    def enabled(self) -> bool:
        return self.config().enabled

    def model_info(self) -> tuple[str, int]:
        if self._fixed is not None:
            return self._fixed.model_id, self._fixed.dim
        name = self.config().model
        if name not in MODELS:
            raise SemanticUnavailable(f"Unknown embedding model {name!r}", details="minilm, hash")
        return MODELS[name]

    def embedder(self) -> Embedder:
        return self._fixed if self._fixed is not None else load_embedder(self.config().model)

    def store(self) -> VectorStore:
        model_id, dim = self.model_info()
        with self._lock:
            store = self._stores.get(model_id)
            if store is None:
                store = VectorStore(self.index_dir, model_id, dim)
                self._stores[model_id] = store
            return store

    def _parse_state(self, state: str | None, store: VectorStore) -> tuple[str, int] | None:
        """(store id, generation) named by the mirror's `vec_store` state, if that is the
        current model's store on disk."""
        if not state:
            return None
        parts = state.split("|")
        if len(parts) not in (2, 3) or parts[0] != store.model_id:
            return None
        sid = store.store_id()
        if sid is None or parts[1] != sid:
            return None
        try:
            generation = int(parts[2]) if len(parts) == 3 else 0
        except ValueError:
            return None
        return sid, generation

    def ready(self, conn: sqlite3.Connection) -> bool:
        """The mirror's vector rows belong to the current model's store on disk."""
        return self._parse_state(get_state(conn, "vec_store"), self.store()) is not None

    # ------------------------------------------------------------------ embedding (leader)

    def _open_writer(self) -> tuple[VectorStore, str]:
        """The store, open for writing, and the `vec_store` state the mirror must have."""
        store = self.store()
        if self._writer_sid is None or store.store_id() != self._writer_sid:
            store.close_writer()
            self._writer_sid = store.open_writer()
            self._adopt(store, _state(store, self._writer_sid))
        return store, _state(store, self._writer_sid)

    def embed_pending(self, batch: int = 64, stop: threading.Event | None = None) -> int:
        """Give vectors to messages that have none, newest first: up to `batch` messages
        that need the model, plus any number (up to `CACHED_BATCH`) whose whole text is in
        the cache. Returns how many messages got vectors (0: nothing to do)."""
        if not self.enabled:
            return 0
        with self._write_lock:
            return self._embed_pending(batch, stop)

    def _embed_pending(self, batch: int, stop: threading.Event | None) -> int:
        model = self.embedder()
        store, expected = self._open_writer()
        with self.mirror.read() as conn:
            if get_state(conn, "vec_store") != expected:
                self._writer_sid = None
                return 0
            rows = _plain(conn).execute(_PENDING_SQL, (max(batch, CACHED_BATCH),)).fetchall()
            version = conn.execute("PRAGMA data_version").fetchone()[0]
        if not rows:
            return 0
        keyed = text_key_function(model.model_id)
        text_keys = [keyed(content) for _, content in rows]
        known = store.lookup_texts(text_keys)
        items: list[tuple[int, str, list[int]]] = []  # (pk, text, rows of its chunks)
        todo: list[tuple[int, str, bytes, list[bytes]]] = []
        texts: dict[bytes, str] = {}
        for (pk, content), tkey in zip(rows, text_keys, strict=True):
            cached = known.get(tkey)
            if cached is not None:
                items.append((int(pk), content, cached))
            elif len(todo) < batch:
                keys = []
                for chunk in model.chunks(content):
                    key = chunk_key(model.model_id, chunk.text)
                    texts.setdefault(key, chunk.text)
                    keys.append(key)
                todo.append((int(pk), content, tkey, keys))
        if todo:
            found = store.lookup(list(texts))
            missing = [k for k in texts if k not in found]
            step = 64
            for start in range(0, len(missing), step):
                if stop is not None and stop.is_set():
                    return 0
                part = missing[start : start + step]
                vectors = model.embed([texts[k] for k in part])
                self.embed_calls += len(part)
                found.update(zip(part, store.append(part, vectors), strict=True))
            remember = {}
            for pk, content, tkey, keys in todo:
                chunk_rows = [found[k] for k in keys]
                items.append((pk, content, chunk_rows))
                remember[tkey] = chunk_rows
            store.remember_texts(remember.items())
        now = time.time_ns()
        with self.mirror.write() as conn:
            if get_state(conn, "vec_store") != expected:
                return 0
            if conn.execute("PRAGMA data_version").fetchone()[0] == version:
                # no other connection has committed since the read: every text is as read
                good = [(pk, rows_) for pk, _, rows_ in items]
            else:
                # a message deleted or changed meanwhile is skipped: its new row is pending
                current: dict[int, str] = {}
                pks = [pk for pk, _, _ in items]
                for at in range(0, len(pks), 500):
                    some = pks[at : at + 500]
                    marks = ",".join("?" * len(some))
                    current.update(
                        _plain(conn).execute(
                            f"SELECT pk, content FROM messages WHERE pk IN ({marks})", some
                        )
                    )
                good = [(pk, rows_) for pk, text, rows_ in items if current.get(pk) == text]
            # A message without `vec_msgs` has no `vec_rows` either (the trigger and
            # `_adopt` delete both), so there is nothing to delete first.
            conn.executemany(
                "INSERT OR REPLACE INTO vec_msgs (pk, chunks, embedded_ns) VALUES (?, ?, ?)",
                [(pk, len(rows_), now) for pk, rows_ in good],
            )
            conn.executemany(
                "INSERT INTO vec_rows (pk, chunk, row) VALUES (?, ?, ?)",
                [(pk, i, row) for pk, rows_ in good for i, row in enumerate(rows_)],
            )
        return max(len(good), 1)

    def close_writer(self) -> None:
        with self._write_lock:
            for store in list(self._stores.values()):
                store.close_writer()
            self._writer_sid = None

    def _adopt(self, store: VectorStore, expected: str) -> None:
        """Point the mirror at this store (and generation); rows of any other are dropped."""
        with self.mirror.read() as conn:
            if get_state(conn, "vec_store") == expected:
                return
        with self.mirror.write() as conn:
            if get_state(conn, "vec_store") != expected:
                conn.execute("DELETE FROM vec_rows")
                conn.execute("DELETE FROM vec_msgs")
                set_state(conn, "vec_store", expected)
                log.info("semantic: using vector store %s", expected)

    # ------------------------------------------------------------------ compaction (leader)

    def compact(self, *, min_dead: int = 1, min_share: float = 0.0) -> dict[str, int] | None:
        """Drop vector rows no message uses any more (deleted or changed messages), when
        there are at least `min_dead` of them and `min_share` of all rows, and every
        message has its vectors. Returns the row counts before and after, or None.

        The rows in use are copied into a new generation of the store; the mirror is
        renumbered and names it in one transaction, so a reader sees either the old
        generation with the old numbers or the new one with the new numbers."""
        if not self.enabled:
            return None
        import numpy as np

        with self._write_lock:
            store, expected = self._open_writer()
            with self.mirror.read() as conn:
                if get_state(conn, "vec_store") != expected:
                    return None
                if conn.execute(_ANY_PENDING_SQL).fetchone() is not None:
                    return None  # e.g. a rebuild under way: its texts are still needed
                live = np.fromiter(
                    (r[0] for r in conn.execute("SELECT DISTINCT row FROM vec_rows ORDER BY row")),
                    dtype=np.int64,
                )
            total = store.rows
            dead = total - len(live)
            if dead <= 0 or dead < min_dead or dead < min_share * total:
                return None
            old_generation = store.generation
            generation = store.compact(live)
            assert self._writer_sid is not None
            renamed = _state(store, self._writer_sid)
            changed = [(int(old), new) for new, old in enumerate(live.tolist()) if old != new]
            with self.mirror.write() as conn:
                conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS vec_renumber "
                    "(old INTEGER PRIMARY KEY, new INTEGER NOT NULL)"
                )
                conn.execute("DELETE FROM temp.vec_renumber")
                conn.executemany("INSERT INTO temp.vec_renumber VALUES (?, ?)", changed)
                conn.execute(
                    "UPDATE vec_rows SET row = "
                    "(SELECT new FROM temp.vec_renumber WHERE old = vec_rows.row) "
                    "WHERE row IN (SELECT old FROM temp.vec_renumber)"
                )
                conn.execute("DELETE FROM temp.vec_renumber")
                set_state(conn, "vec_store", renamed)
            store.drop_generation(old_generation)
            log.info(
                "semantic: compacted the vectors from %d to %d rows (generation %d)",
                total,
                len(live),
                generation,
            )
            return {"rows_before": total, "rows_after": len(live)}

    # ------------------------------------------------------------------ search (everyone)

    def encode_query(self, text: str) -> Any:
        model = self.embedder()
        chunks = model.chunks(text)
        return model.embed([chunks[0].text if chunks else text])[0]

    def search(self, query_vector: Any, filters: MessageFilter, want: int) -> list[VectorHit]:
        """The `want` best messages by cosine of their best chunk, filters applied.

        Above `PREFILTER_MIN_ROWS` rows, every row is scored from the int8 copy and the
        best few hundred are scored again exactly (float32); the order returned is the
        exact one."""
        for _ in range(3):
            hits = self._search(query_vector, filters, want)
            if hits is not None:
                return hits
        return []  # the store changed under us three times running

    def _search(
        self, query_vector: Any, filters: MessageFilter, want: int
    ) -> list[VectorHit] | None:
        import numpy as np

        store = self.store()
        with self.mirror.read() as conn:
            named = self._parse_state(get_state(conn, "vec_store"), store)
            if named is None or want <= 0:
                return []
            top_row = conn.execute("SELECT max(row) FROM vec_rows").fetchone()[0]
            if top_row is None:
                return []
            view = store.view(named[0], named[1], need_rows=int(top_row) + 1)
            if view is None:
                return None  # a compaction replaced that generation: read the mirror again
            n = len(view)
            if n == 0:
                return []
            q = np.asarray(query_vector, dtype=np.float32)
            where, params = filters.sql()
            if not filters.empty:
                passing = (
                    "SELECT r.pk, r.chunk, r.row FROM vec_rows AS r "
                    "JOIN messages AS m ON m.pk = r.pk JOIN sessions AS s ON s.file_id = m.file_id "
                    f"WHERE {where}"
                )
                count = conn.execute(
                    f"SELECT count(*) FROM ({passing} LIMIT ?)", [*params, SELECTIVE_ROWS + 1]
                ).fetchone()[0]
                if not count:
                    return []
                if count <= SELECTIVE_ROWS:  # few rows pass: score just those, exactly
                    cand = _plain(conn).execute(passing, params).fetchall()
                    arr = np.array(cand, dtype=np.int64)
                    arr = arr[arr[:, 2] < n]
                    scores = view.score_rows(arr[:, 2], q)
                    return _best_per_message(arr[:, 0], arr[:, 1], scores, want)
            # the best rows overall, then the messages they belong to (passing the filters)
            prefilter = n >= PREFILTER_MIN_ROWS
            k = min(n, want * 3 + 32 + (PREFILTER_EXTRA if prefilter else 0))
            candidates = None  # the reduced pass's rows, scored exactly
            if prefilter and REDUCED and view.has_reduced():
                candidates = view.candidates(q, k, SCAN_THREADS)
                ranking = view.score_rows(candidates, q)
            elif prefilter:
                ranking = view.approximate(q, SCAN_THREADS)
            else:
                ranking = view.score_all(q)
            resolve = (
                "SELECT r.pk, r.chunk, r.row FROM vec_rows AS r "
                + (
                    ""
                    if filters.empty
                    else "JOIN messages AS m ON m.pk = r.pk "
                    "JOIN sessions AS s ON s.file_id = m.file_id "
                )
                + f"WHERE r.row IN (SELECT value FROM json_each(?)) AND {where}"
            )
            while True:
                if candidates is not None and k > len(candidates):
                    # a filter few of the candidates pass: the int8 pass over every row
                    candidates, ranking = None, view.approximate(q, SCAN_THREADS)
                if candidates is not None:
                    at = top_k(ranking, k)
                    at.sort()
                    pick, exact = candidates[at], ranking[at]
                elif not prefilter:
                    pick = top_k(ranking, k)
                    pick.sort()
                    exact = ranking[pick]
                else:
                    pick = top_k(ranking, k)
                    pick.sort()
                    exact = view.score_all(q)[pick] if k * 4 > n else view.score_rows(pick, q)
                resolved = (
                    _plain(conn).execute(resolve, [json.dumps(pick.tolist()), *params]).fetchall()
                )
                if resolved:
                    arr = np.array(resolved, dtype=np.int64)
                    scores = exact[np.searchsorted(pick, arr[:, 2])]
                    hits = _best_per_message(arr[:, 0], arr[:, 1], scores, want)
                else:
                    hits = []
                if len(hits) >= want or k >= n:
                    return hits
                k = min(n, k * 4)

    # ------------------------------------------------------------------ progress

    def caught_up(self, filters: MessageFilter) -> bool:
        """Every message passing `filters` has its vectors (and the store is current).

        The answer is kept until the mirror changes: counting 400,000 messages costs
        ~5 ms, and every search in the default mode asks. A change is seen through this
        thread's connection: `PRAGMA data_version` moves when another connection commits,
        `total_changes` when this one does."""
        with self.mirror.read() as conn:
            where, params = filters.sql()
            stamp = (
                id(conn),
                conn.execute("PRAGMA data_version").fetchone()[0],
                conn.total_changes,
                self.store().store_id(),
                where,
                tuple(params),
            )
            known = self._caught_up.get(stamp)
            if known is not None:
                return known
            answer = self._count_caught_up(conn, filters, where, params)
            if len(self._caught_up) > 64:
                self._caught_up.clear()
            self._caught_up[stamp] = answer
            return answer

    def _count_caught_up(
        self, conn: sqlite3.Connection, filters: MessageFilter, where: str, params: list[Any]
    ) -> bool:
        if not self.ready(conn):
            return False
        if filters.empty:
            total = int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
            done = int(conn.execute("SELECT count(*) FROM vec_msgs").fetchone()[0])
            return done >= total
        row = conn.execute(
            "SELECT 1 FROM messages AS m JOIN sessions AS s ON s.file_id = m.file_id "
            f"WHERE {where} AND NOT EXISTS (SELECT 1 FROM vec_msgs AS v WHERE v.pk = m.pk) "
            "LIMIT 1",
            params,
        ).fetchone()
        return row is None

    def status(self) -> dict[str, Any]:
        """Enabled?, model, embedded and pending counts, lag, vector file size."""
        config = self.config()
        data: dict[str, Any] = {"enabled": config.enabled, "model": config.model}
        try:
            store = self.store()
        except SemanticUnavailable as exc:
            return {**data, "error": str(exc)}
        data["model_id"] = store.model_id
        with self.mirror.read() as conn:
            named = self._parse_state(get_state(conn, "vec_store"), store)
            ready = named is not None
            total = int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
            done = int(conn.execute("SELECT count(*) FROM vec_msgs").fetchone()[0]) if ready else 0
            oldest = None
            if ready and done < total:
                oldest = conn.execute(
                    "SELECT min(f.indexed_at_ns) FROM messages AS m "
                    "JOIN files AS f ON f.id = m.file_id "
                    "WHERE NOT EXISTS (SELECT 1 FROM vec_msgs AS v WHERE v.pk = m.pk)"
                ).fetchone()[0]
        lag = 0.0
        if done < total:
            lag = max(0.0, (time.time_ns() - int(oldest)) / 1e9) if oldest is not None else -1.0
        rows = store.rows_of(named[1]) if named is not None else 0
        data.update(
            embedded=done,
            pending=total - done,
            lag_seconds=round(lag, 3),
            vector_rows=rows,
            vector_bytes=rows * store.dim * 4,
            vector_disk_bytes=store.disk_bytes(named[1]) if named is not None else 0,
        )
        return data


def _plain(conn: sqlite3.Connection) -> sqlite3.Cursor:
    """A cursor returning plain tuples (cheaper than the mirror's `sqlite3.Row`s)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor


def _state(store: VectorStore, sid: str) -> str:
    """The mirror's `vec_store` state naming this store and its writer's generation."""
    base = f"{store.model_id}|{sid}"
    return base if store.generation == 0 else f"{base}|{store.generation}"


def _best_per_message(pks: Any, chunks: Any, scores: Any, want: int) -> list[VectorHit]:
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    best: dict[int, VectorHit] = {}
    for i in order:
        pk = int(pks[i])
        if pk not in best:
            best[pk] = VectorHit(pk, float(scores[i]), int(chunks[i]))
            if len(best) >= want:
                break
    return list(best.values())


# ---------------------------------------------------------------------- background


class EmbedWorker:
    """The leader's embedding thread: batches until nothing is pending, then polls."""

    def __init__(
        self, semantic: SemanticIndex, leading: Callable[[], bool], interval: float = 0.5
    ) -> None:
        self.semantic = semantic
        self._leading = leading
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_compact_check = time.monotonic()
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="codearchitect-embed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self.semantic.close_writer()

    def kick(self) -> None:
        self._wake.set()

    def _maybe_compact(self) -> None:
        """Now and then, when idle: drop dead vector rows once they are many."""
        now = time.monotonic()
        if now - self._last_compact_check < COMPACT_EVERY:
            return
        self._last_compact_check = now
        try:
            if self._leading() and self.semantic.enabled:
                self.semantic.compact(min_dead=COMPACT_MIN_DEAD, min_share=COMPACT_MIN_SHARE)
        except Exception as exc:  # keep serving; try again later
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("vector compaction failed")

    def _run(self) -> None:
        while not self._stop.is_set():
            done = 0
            try:
                if self._leading() and self.semantic.enabled:
                    done = self.semantic.embed_pending(stop=self._stop)
                self.last_error = None
            except SemanticUnavailable as exc:
                if self.last_error != str(exc):
                    log.warning("semantic search is enabled but cannot run: %s", exc)
                self.last_error = str(exc)
                self._stop.wait(5.0)
            except Exception as exc:  # keep serving; report through status()
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("embedding failed; retrying")
                self._stop.wait(1.0)
            if done:
                continue
            self._maybe_compact()
            self._wake.wait(self.interval)
            self._wake.clear()
