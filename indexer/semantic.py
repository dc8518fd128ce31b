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
from .vectors import VectorStore, chunk_key

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

    def _expected_state(self, store: VectorStore) -> str | None:
        sid = store.store_id()
        return None if sid is None else f"{store.model_id}|{sid}"

    def ready(self, conn: sqlite3.Connection) -> bool:
        """The mirror's vector rows belong to the current model's store on disk."""
        expected = self._expected_state(self.store())
        return expected is not None and get_state(conn, "vec_store") == expected

    # ------------------------------------------------------------------ embedding (leader)

    def embed_pending(self, batch: int = 64, stop: threading.Event | None = None) -> int:
        """Embed up to `batch` messages without vectors, newest first; returns how many
        messages got vectors (0: nothing to do)."""
        if not self.enabled:
            return 0
        model = self.embedder()
        store = self.store()
        if self._writer_sid is None or store.store_id() != self._writer_sid:
            store.close_writer()
            self._writer_sid = store.open_writer()
            self._adopt(store, self._writer_sid)
        expected = f"{store.model_id}|{self._writer_sid}"
        with self.mirror.read() as conn:
            if get_state(conn, "vec_store") != expected:
                self._writer_sid = None
                return 0
            rows = conn.execute(_PENDING_SQL, (batch,)).fetchall()
        if not rows:
            return 0
        items: list[tuple[int, str, list[bytes]]] = []
        texts: dict[bytes, str] = {}
        for pk, content in rows:
            keys = []
            for chunk in model.chunks(content):
                key = chunk_key(model.model_id, chunk.text)
                texts.setdefault(key, chunk.text)
                keys.append(key)
            items.append((int(pk), content, keys))
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
        done = 0
        now = time.time_ns()
        with self.mirror.write() as conn:
            if get_state(conn, "vec_store") != expected:
                return 0
            for pk, content, keys in items:
                current = conn.execute("SELECT content FROM messages WHERE pk = ?", (pk,))
                row = current.fetchone()
                if row is None or row[0] != content:
                    continue  # deleted or changed meanwhile: its new row is pending again
                conn.execute(
                    "INSERT OR REPLACE INTO vec_msgs (pk, chunks, embedded_ns) VALUES (?, ?, ?)",
                    (pk, len(keys), now),
                )
                conn.execute("DELETE FROM vec_rows WHERE pk = ?", (pk,))
                conn.executemany(
                    "INSERT INTO vec_rows (pk, chunk, row) VALUES (?, ?, ?)",
                    [(pk, i, found[k]) for i, k in enumerate(keys)],
                )
                done += 1
        return max(done, 1)

    def close_writer(self) -> None:
        for store in list(self._stores.values()):
            store.close_writer()
        self._writer_sid = None

    def _adopt(self, store: VectorStore, sid: str) -> None:
        """Point the mirror at this store; rows of any other store are dropped."""
        expected = f"{store.model_id}|{sid}"
        with self.mirror.write() as conn:
            if get_state(conn, "vec_store") != expected:
                conn.execute("DELETE FROM vec_rows")
                conn.execute("DELETE FROM vec_msgs")
                set_state(conn, "vec_store", expected)
                log.info("semantic: using vector store %s", expected)

    # ------------------------------------------------------------------ search (everyone)

    def encode_query(self, text: str) -> Any:
        model = self.embedder()
        chunks = model.chunks(text)
        return model.embed([chunks[0].text if chunks else text])[0]

    def search(self, query_vector: Any, filters: MessageFilter, want: int) -> list[VectorHit]:
        """The `want` best messages by cosine of their best chunk, filters applied."""
        import numpy as np

        store = self.store()
        with self.mirror.read() as conn:
            state = get_state(conn, "vec_store")
            expected = self._expected_state(store)
            if expected is None or state != expected or want <= 0:
                return []
            top_row = conn.execute("SELECT max(row) FROM vec_rows").fetchone()[0]
            if top_row is None:
                return []
            matrix = store.matrix(expected.split("|", 1)[1], need_rows=int(top_row) + 1)
            if matrix is None or len(matrix) == 0:
                return []
            n = len(matrix)
            q = np.asarray(query_vector, dtype=np.float32)
            if not filters.empty:
                where, params = filters.sql()
                cand = conn.execute(
                    "SELECT r.pk, r.chunk, r.row FROM vec_rows AS r "
                    "JOIN messages AS m ON m.pk = r.pk JOIN sessions AS s ON s.file_id = m.file_id "
                    f"WHERE {where}",
                    params,
                ).fetchall()
                if not cand:
                    return []
                arr = np.array(cand, dtype=np.int64)
                arr = arr[arr[:, 2] < n]
                rows = arr[:, 2]
                scores = (matrix @ q)[rows] if len(rows) * 4 > n else matrix[rows] @ q
                return _best_per_message(arr[:, 0], arr[:, 1], scores, want)
            scores = matrix @ q
            k = min(n, want * 3 + 32)
            while True:
                top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
                marks = ",".join("?" * len(top))
                resolved = conn.execute(
                    f"SELECT pk, chunk, row FROM vec_rows WHERE row IN ({marks})",
                    [int(r) for r in top],
                ).fetchall()
                if resolved:
                    arr = np.array(resolved, dtype=np.int64)
                    hits = _best_per_message(arr[:, 0], arr[:, 1], scores[arr[:, 2]], want)
                else:
                    hits = []
                if len(hits) >= want or k >= n:
                    return hits
                k = min(n, k * 4)

    # ------------------------------------------------------------------ progress

    def caught_up(self, filters: MessageFilter) -> bool:
        """Every message passing `filters` has its vectors (and the store is current)."""
        with self.mirror.read() as conn:
            if not self.ready(conn):
                return False
            if filters.empty:
                total = int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
                done = int(conn.execute("SELECT count(*) FROM vec_msgs").fetchone()[0])
                return done >= total
            where, params = filters.sql()
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
            ready = self.ready(conn)
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
        rows = store.rows
        data.update(
            embedded=done,
            pending=total - done,
            lag_seconds=round(lag, 3),
            vector_rows=rows,
            vector_bytes=rows * store.dim * 4,
        )
        return data


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
            self._wake.wait(self.interval)
            self._wake.clear()
