"""`SemanticIndex`: a project's vectors. The leader embeds messages that have none yet
(newest first, a batch at a time, reusing every chunk already in the content-addressed
cache) and records in the mirror which rows each message uses (`vec_msgs`, `vec_rows`); a
message whose text changed while it was being embedded is skipped and taken again later.
Every process searches (nearest.py). `store_message` never waits for any of this.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from vault.message_views import search_text_json

from ..filters import MessageFilter
from ..mirror import Mirror, get_state, set_state
from .config import CONFIG_NAME, MODELS, SemanticConfig, check_installed, read_config
from .models import Embedder, SemanticUnavailable, load_embedder
from .nearest import VectorHit, nearest_messages, plain
from .store import VectorStore, chunk_key, text_key_function

__all__ = ("SemanticIndex",)

log = logging.getLogger("codearchitect.indexer.semantic")

CACHED_BATCH = 4096  # messages per call whose whole text is in the cache (no model)
_ANY_PENDING_SQL = (
    "SELECT 1 FROM messages AS m WHERE NOT EXISTS (SELECT 1 FROM vec_msgs AS v WHERE v.pk = m.pk) "
    "LIMIT 1"
)
_PENDING_SQL = (
    "SELECT m.pk, m.content, m.metadata FROM messages AS m "
    "WHERE NOT EXISTS (SELECT 1 FROM vec_msgs AS v WHERE v.pk = m.pk) "
    "ORDER BY m.created_at DESC, m.pk DESC LIMIT ?"
)

# What a message's embedded text is: 2 = `search_text` (content, thinking, tool calls).
_TEXT_VERSION = "2"
_WITH_VIEWS_SQL = (
    "SELECT pk FROM messages WHERE metadata LIKE '%\"thinking\"%' "
    "OR metadata LIKE '%\"toolCalls\"%' OR metadata LIKE '%\"toolResults\"%'"
)


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
        self._config_path = str(vault_dir / CONFIG_NAME)
        self._fixed = embedder  # tests inject a model
        self._config: tuple[float, SemanticConfig] | None = None
        self._stores: dict[str, VectorStore] = {}
        self._writer_sid: str | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()  # embedding and compaction: one at a time
        self._caught_up: dict[tuple[Any, ...], bool] = {}
        self._installed: dict[str, SemanticUnavailable | None] = {}
        self.embed_calls = 0  # texts sent to the model (tests check cache reuse)

    # ------------------------------------------------------------------ setting and model

    def config(self) -> SemanticConfig:
        try:
            stamp = os.stat(self._config_path).st_mtime  # every search asks: no Path work
        except OSError:
            stamp = -1.0
        cached = self._config
        if cached is None or cached[0] != stamp:
            cached = (stamp, read_config(self.vault_dir))
            self._config = cached
        return cached[1]

    @property
    def enabled(self) -> bool:
        """Semantic search runs: wanted (the setting or the default) and installed."""
        return self.config().enabled and self.unavailable() is None

    def unavailable(self) -> SemanticUnavailable | None:
        """Why the configured model cannot run here (the extra or the weights missing),
        or None. Checked once per process and model: installing needs a restart."""
        if self._fixed is not None:
            return None
        name = self.config().model
        with self._lock:
            if name not in self._installed:
                try:
                    check_installed(name)
                    self._installed[name] = None
                except SemanticUnavailable as exc:
                    self._installed[name] = exc
            return self._installed[name]

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

    def parse_state(self, state: str | None, store: VectorStore) -> tuple[str, int] | None:
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
        return self.parse_state(get_state(conn, "vec_store"), self.store()) is not None

    # ------------------------------------------------------------------ embedding (leader)

    def _open_writer(self) -> tuple[VectorStore, str]:
        """The store, open for writing, and the `vec_store` state the mirror must have."""
        store = self.store()
        if self._writer_sid is None or store.store_id() != self._writer_sid:
            store.close_writer()
            self._writer_sid = store.open_writer()
            self._adopt(store, _state(store, self._writer_sid))
            self._forget_old_texts()
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
            pending = plain(conn).execute(_PENDING_SQL, (max(batch, CACHED_BATCH),)).fetchall()
            version = conn.execute("PRAGMA data_version").fetchone()[0]
        if not pending:
            return 0
        # A message's text as searched: its content, thinking and tool calls.
        rows = [(pk, search_text_json(content, meta)) for pk, content, meta in pending]
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
                        (pk, search_text_json(content, meta))
                        for pk, content, meta in plain(conn).execute(
                            f"SELECT pk, content, metadata FROM messages WHERE pk IN ({marks})",
                            some,
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

    def _forget_old_texts(self) -> None:
        """Vectors made before a message's thinking and tool calls were part of its text
        (`vec_text` < 2) are dropped for the messages that have them: embedded again."""
        with self.mirror.read() as conn:
            if get_state(conn, "vec_text") == _TEXT_VERSION:
                return
        with self.mirror.write() as conn:
            if get_state(conn, "vec_text") != _TEXT_VERSION:
                conn.execute(f"DELETE FROM vec_rows WHERE pk IN ({_WITH_VIEWS_SQL})")
                conn.execute(f"DELETE FROM vec_msgs WHERE pk IN ({_WITH_VIEWS_SQL})")
                set_state(conn, "vec_text", _TEXT_VERSION)

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
        """The `want` best messages by cosine of their best chunk, filters applied
        (nearest.py)."""
        return nearest_messages(self, query_vector, filters, want)

    # ------------------------------------------------------------------ progress

    def caught_up(self, filters: MessageFilter) -> bool:
        """Every message passing `filters` has its vectors (and the store is current).

        The answer is kept until the mirror changes: counting 400,000 messages costs
        ~5 ms, and every search in the default mode asks. A change is seen through this
        thread's connection: `PRAGMA data_version` moves when another connection commits,
        `total_changes` when this one does; a mirror file replaced under the process (a
        repair) by the file's identity, as a new connection may reuse the old one's id."""
        with self.mirror.read() as conn:
            where, params = filters.sql()
            stamp = (
                id(conn),
                self.mirror.thread_identity(),  # a replaced mirror file: a new connection
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
        """Enabled?, model, embedded and pending counts, lag, vector file size; when off,
        `reason` says why (turned off, or not installed: with the install command)."""
        config = self.config()
        data: dict[str, Any] = {"enabled": self.enabled, "model": config.model}
        if not config.enabled:
            how = (
                "turned off for this project (codearchitect semantic disable)"
                if config.explicit
                else "off by default in this environment (CODEARCHITECT_SEMANTIC)"
            )
            return {**data, "reason": how + "; codearchitect semantic enable turns it on"}
        missing = self.unavailable()
        if missing is not None:
            return {
                **data,
                "reason": f"{missing}: keyword search only",
                "install": missing.details,
            }
        try:
            store = self.store()
        except SemanticUnavailable as exc:
            return {**data, "error": str(exc)}
        data["model_id"] = store.model_id
        with self.mirror.read() as conn:
            named = self.parse_state(get_state(conn, "vec_store"), store)
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


def _state(store: VectorStore, sid: str) -> str:
    """The mirror's `vec_store` state naming this store and its writer's generation."""
    base = f"{store.model_id}|{sid}"
    return base if store.generation == 0 else f"{base}|{store.generation}"
