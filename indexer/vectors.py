"""The vector store: a flat, memory-mapped float32 file and its content-addressed cache.

Layout, per model, under `.codearchitect/index/vectors/<model slug>/`:

- `vectors.f32`: row i is the L2-normalised vector of one distinct chunk text, appended by
  the one index writer (the leader) and fsynced before anything names the row. Every server
  process maps it read-only (`numpy.memmap`): one copy in the page cache serves them all.
- `cache.sqlite3`: `chunks(key → row)`, key = sha256(model id, NUL, chunk text)[:16].
  This is the embedding cache: a rebuild re-reads the markdown but finds every unchanged
  chunk here, so nothing is embedded twice. Deleting the folder costs time, never
  correctness: a new store gets a new `store_id`, and the mirror's rows of the old one are
  dropped (see semantic.py).
- `store_id`: a random id naming this store; the mirror records which store its rows use.

Which message uses which rows lives in the SQLite mirror (`vec_msgs`, `vec_rows`), so
filters and deletions are answered by the same database as keyword search.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ("VectorStore", "chunk_key", "model_slug")

log = logging.getLogger("codearchitect.indexer.vectors")

VECTORS_DIR = "vectors"


def model_slug(model_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in model_id)


def chunk_key(model_id: str, text: str) -> bytes:
    """The cache key of one chunk: text hash + model id."""
    return hashlib.sha256(f"{model_id}\0{text}".encode("utf-8", "surrogatepass")).digest()[:16]


class VectorStore:
    """One model's vectors and cache; `open_writer()` only in the leader."""

    def __init__(self, index_dir: Path, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim
        self.directory = index_dir / VECTORS_DIR / model_slug(model_id)
        self.path = self.directory / "vectors.f32"
        self._row_bytes = dim * 4
        self._cache: sqlite3.Connection | None = None
        self._map: tuple[str, int, Any] | None = None  # (store id, rows, memmap)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ identity

    def store_id(self) -> str | None:
        """The id of the store on disk, or None when there is none (yet)."""
        try:
            return (self.directory / "store_id").read_text().strip() or None
        except OSError:
            return None

    # ------------------------------------------------------------------ writer (leader)

    def open_writer(self) -> str:
        """Create the store if needed, drop a torn tail; returns the store id."""
        self.directory.mkdir(parents=True, exist_ok=True)
        sid = self.store_id()
        cache_path = self.directory / "cache.sqlite3"
        if sid is None or not cache_path.exists() or not self.path.exists():
            for name in ("cache.sqlite3", "cache.sqlite3-wal", "cache.sqlite3-shm", "vectors.f32"):
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / name).unlink()
            sid = uuid.uuid4().hex
            self.path.touch()
            _write_atomic(self.directory / "store_id", sid)
        conn = sqlite3.connect(cache_path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS chunks (key BLOB PRIMARY KEY, row INTEGER NOT NULL) "
            "WITHOUT ROWID"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('model', ?)", (self.model_id,))
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('dim', ?)", (self.dim,))
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('rows', 0)")
        rows = int(conn.execute("SELECT value FROM meta WHERE key = 'rows'").fetchone()[0])
        size = self.path.stat().st_size
        if size != rows * self._row_bytes:
            if size < rows * self._row_bytes:  # lost vectors: start over (costs time only)
                conn.close()
                (self.directory / "store_id").unlink()
                return self.open_writer()
            with self.path.open("r+b") as fh:  # a crash after writing, before recording
                fh.truncate(rows * self._row_bytes)
        self._cache = conn
        return sid

    def close_writer(self) -> None:
        conn, self._cache = self._cache, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    @property
    def rows(self) -> int:
        return self.path.stat().st_size // self._row_bytes if self.path.exists() else 0

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, int]:
        """Rows of the keys already embedded."""
        conn = self._writer()
        found: dict[bytes, int] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            for key, row in conn.execute(
                f"SELECT key, row FROM chunks WHERE key IN ({marks})", part
            ):
                found[bytes(key)] = int(row)
        return found

    def append(self, keys: Sequence[bytes], vectors: npt.NDArray[np.float32]) -> list[int]:
        """Append vectors (fsynced), then record their keys; returns their rows."""
        import numpy as np

        conn = self._writer()
        if len(keys) == 0:
            return []
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        assert data.shape == (len(keys), self.dim)
        rows = int(conn.execute("SELECT value FROM meta WHERE key = 'rows'").fetchone()[0])
        with self.path.open("r+b") as fh:
            fh.seek(rows * self._row_bytes)
            fh.write(data.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        new_rows = list(range(rows, rows + len(keys)))
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO chunks (key, row) VALUES (?, ?)",
                zip(keys, new_rows, strict=True),
            )
            conn.execute("UPDATE meta SET value = ? WHERE key = 'rows'", (rows + len(keys),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return new_rows

    def _writer(self) -> sqlite3.Connection:
        if self._cache is None:
            raise RuntimeError("the vector store is not open for writing")
        return self._cache

    # ------------------------------------------------------------------ readers (everyone)

    def matrix(self, store_id: str, need_rows: int = 0) -> npt.NDArray[np.float32] | None:
        """The vectors as a read-only memmap (None if the store is not `store_id`), mapped
        again when the file has grown past what this process mapped."""
        import numpy as np

        with self._lock:
            cached = self._map
            if cached is not None and cached[0] == store_id and cached[1] >= need_rows:
                return cached[2]  # type: ignore[no-any-return]
            if self.store_id() != store_id:
                return None
            rows = self.rows
            if rows == 0:
                empty: npt.NDArray[np.float32] = np.zeros((0, self.dim), dtype=np.float32)
                return empty
            mapped = np.memmap(self.path, dtype=np.float32, mode="r", shape=(rows, self.dim))
            self._map = (store_id, rows, mapped)
            return mapped


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
