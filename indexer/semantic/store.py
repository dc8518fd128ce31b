"""The vector store: flat, memory-mapped float32 rows, an int8 copy for a fast first pass,
the reduced copy, and the content-addressed embedding cache (scoring: view.py).

Layout, per model, under `.codearchitect/index/vectors/<model slug>/`:

- `vectors.f32`: row i is the L2-normalised vector of one distinct chunk text, appended by
  the one index writer (the leader) and fsynced before anything names the row. Every server
  process maps it read-only (`numpy.memmap`): one copy in the page cache serves them all.
- `vectors.i8` + `vectors.scale`: the same rows quantised to int8 (one float32 scale per
  row: max |x| / 127), written with the float rows. A query scores every row from this
  quarter-size copy, then rescores the best few hundred exactly from `vectors.f32`
  (view.py). A store written before the int8 copy existed gets it the next time
  the writer opens it; until then readers score the rows it lacks in float32.
- `vectors.r8` + `vectors.rscale`, `projection.f32` + `projection.json`: the reduced copy.
  Once the store has `REDUCED_MIN_ROWS` rows, the writer trains a projection on the 128
  directions that carry most of the rows' energy (uncentred PCA of a sample; never
  retrained for that store) and writes every row projected and quantised to int8 (a third
  of the int8 copy). When the projection keeps at least `REDUCED_MIN_ENERGY` of the energy
  (MiniLM: ~0.76; random vectors: ~0.33), a query scores every row from this copy and
  rescores the best `REDUCED_RESCORE` exactly (`VectorView.candidates`): not exact by
  construction, but on MiniLM-like rows the exact top 10 was always among them.
- `cache.sqlite3`: `chunks(key → row)`, key = sha256(model id, NUL, chunk text)[:16]:
  the embedding cache. `texts(key → rows)`, key = sha256(model id, "msg", NUL, message
  text)[:16]: the rows of a whole message's chunks, so a rebuild finds a message's vectors
  without tokenising it again. Deleting the folder costs time, never correctness: a new
  store gets a new `store_id`, and the mirror's rows of the old one are dropped (index.py).
- `store_id`: a random id naming this store; the mirror records which store (and which
  generation of it) its rows use.

Compaction (`compact`, by the writer only) copies the rows still in use into the files of
a new generation (`vectors.g<N>.f32`, `.i8`, `.scale`, `.r8`, `.rscale`), renumbers the cache, and the caller
then renumbers the mirror and names the new generation in one transaction. Readers map the
generation the mirror names, so none ever sees a half-written matrix: a reader still on the
old generation keeps its mapping (the old files are unlinked, not truncated).

Which message uses which rows lives in the SQLite mirror (`vec_msgs`, `vec_rows`), so
filters and deletions are answered by the same database as keyword search.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import sys
import threading
import uuid
from array import array
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault.derived import claim_dir, clear_foreign

from .view import PREFILTER_MIN_ROWS, VectorView, quantise, reduced_dims, train_projection

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = (
    "VectorStore",
    "chunk_key",
    "model_slug",
    "text_key",
    "text_key_function",
)

log = logging.getLogger("codearchitect.indexer.semantic.store")

VECTORS_DIR = "vectors"
COMPACT_STEP = 16_384  # rows copied per step when compacting
REDUCED_MIN_ROWS = PREFILTER_MIN_ROWS  # rows before the writer trains the reduced copy
REDUCED_SAMPLE = 65_536  # rows the projection is trained on (an even sample)
PROJECTION = "projection"  # projection.f32 (REDUCED_DIMS x dim), projection.json


def model_slug(model_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in model_id)


def chunk_key(model_id: str, text: str) -> bytes:
    """The cache key of one chunk: text hash + model id."""
    return hashlib.sha256(f"{model_id}\0{text}".encode("utf-8", "surrogatepass")).digest()[:16]


def text_key(model_id: str, text: str) -> bytes:
    """The cache key of a whole message's text (its chunks' rows, in order)."""
    return hashlib.sha256(f"{model_id}msg\0{text}".encode("utf-8", "surrogatepass")).digest()[:16]


def text_key_function(model_id: str) -> Callable[[str], bytes]:
    """`text_key` for one model, for many texts (the model id is hashed once)."""
    prefix = hashlib.sha256(f"{model_id}msg\0".encode())

    def key(text: str) -> bytes:
        digest = prefix.copy()
        digest.update(text.encode("utf-8", "surrogatepass"))
        return digest.digest()[:16]

    return key


def _names(generation: int) -> tuple[str, str, str]:
    stem = "vectors" if generation == 0 else f"vectors.g{generation}"
    return f"{stem}.f32", f"{stem}.i8", f"{stem}.scale"


def _reduced_names(generation: int) -> tuple[str, str]:
    stem = "vectors" if generation == 0 else f"vectors.g{generation}"
    return f"{stem}.r8", f"{stem}.rscale"


def _pack_rows(rows: Sequence[int]) -> bytes:
    packed = array("q", rows)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _unpack_rows(blob: bytes) -> list[int]:
    packed = array("q")
    packed.frombytes(blob)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tolist()


class VectorStore:
    """One model's vectors and cache; `open_writer()` only in the leader."""

    def __init__(self, index_dir: Path, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim
        self.directory = index_dir / VECTORS_DIR / model_slug(model_id)
        self._state_root = index_dir.parent  # `.codearchitect/` (see vault/derived.py)
        self.path = self.directory / "vectors.f32"  # generation 0
        self._row_bytes = dim * 4
        self._cache: sqlite3.Connection | None = None
        self._gen = 0  # the writer's generation
        self._map: tuple[str, int, int, VectorView] | None = None  # (sid, gen, rows, view)
        self._lock = threading.Lock()
        self._projection: tuple[Any, float] | None = None  # the writer's (matrix, energy)

    # ------------------------------------------------------------------ identity

    def store_id(self) -> str | None:
        """The id of the store on disk, or None when there is none (yet)."""
        try:
            return (self.directory / "store_id").read_text().strip() or None
        except OSError:
            return None

    def files(self, generation: int) -> tuple[Path, Path, Path]:
        f32, i8, scale = _names(generation)
        return self.directory / f32, self.directory / i8, self.directory / scale

    def reduced_files(self, generation: int) -> tuple[Path, Path]:
        r8, rscale = _reduced_names(generation)
        return self.directory / r8, self.directory / rscale

    def all_files(self, generation: int) -> tuple[Path, ...]:
        return (*self.files(generation), *self.reduced_files(generation))

    def disk_bytes(self, generation: int) -> int:
        """Bytes on disk of a generation's files (float32 rows, int8 copy and scales, the
        reduced copy) and of the projection, as they are now."""
        total = 0
        for path in (*self.all_files(generation), *self._projection_files()):
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total

    def _projection_files(self) -> tuple[Path, Path]:
        return self.directory / f"{PROJECTION}.f32", self.directory / f"{PROJECTION}.json"

    def read_projection(self) -> tuple[Any, float] | None:
        """The store's projection (dim x dims float32) and the energy it keeps, if trained."""
        import numpy as np

        try:
            meta = json.loads((self.directory / f"{PROJECTION}.json").read_text())
            dims, energy = int(meta["dims"]), float(meta["energy"])
            data = np.fromfile(self.directory / f"{PROJECTION}.f32", dtype=np.float32)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if dims <= 0 or data.size != self.dim * dims:
            return None
        return data.reshape(self.dim, dims), energy

    @property
    def generation(self) -> int:
        """The writer's generation (0 until the first compaction)."""
        return self._gen

    # ------------------------------------------------------------------ writer (leader)

    def open_writer(self) -> str:
        """Create the store if needed, drop a torn tail, complete the int8 copy;
        returns the store id."""
        claim_dir(self.directory, self._state_root)
        clear_foreign(self.directory)  # planted links and FIFOs are removed, never followed
        sid = self.store_id()
        cache_path = self.directory / "cache.sqlite3"
        if sid is None or not cache_path.exists():
            for name in os.listdir(self.directory):
                if name.startswith(("cache.sqlite3", "vectors", PROJECTION)):
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
        conn.execute(
            "CREATE TABLE IF NOT EXISTS texts (key BLOB PRIMARY KEY, rows BLOB NOT NULL) "
            "WITHOUT ROWID"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('model', ?)", (self.model_id,))
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('dim', ?)", (self.dim,))
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('rows', 0)")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', 0)")
        rows = int(conn.execute("SELECT value FROM meta WHERE key = 'rows'").fetchone()[0])
        gen = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        f32 = self.files(gen)[0]
        size = f32.stat().st_size if f32.exists() else -1
        if size < rows * self._row_bytes:  # lost vectors: start over (costs time only)
            conn.close()
            (self.directory / "store_id").unlink()
            return self.open_writer()
        if size > rows * self._row_bytes:  # a crash after writing, before recording
            with f32.open("r+b") as fh:
                fh.truncate(rows * self._row_bytes)
        self._cache = conn
        self._gen = gen
        self._drop_other_generations(gen)
        self._projection = self.read_projection()
        self._complete_codes(rows)
        self._complete_reduced(rows)
        self._maybe_train(rows)
        return sid

    def close_writer(self) -> None:
        conn, self._cache = self._cache, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    @property
    def rows(self) -> int:
        """Rows in the writer's generation."""
        return self.rows_of(self._gen)

    def rows_of(self, generation: int) -> int:
        """Rows in a generation's file (0 when it is gone)."""
        try:
            return self.files(generation)[0].stat().st_size // self._row_bytes
        except OSError:
            return 0

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, int]:
        """Rows of the chunk keys already embedded."""
        return {k: int(v) for k, v in self._lookup("chunks", "row", keys).items()}

    def lookup_texts(self, keys: Sequence[bytes]) -> dict[bytes, list[int]]:
        """Rows of the message texts whose chunks are all embedded (by `text_key`)."""
        return {k: _unpack_rows(v) for k, v in self._lookup("texts", "rows", keys).items()}

    def remember_texts(self, items: Iterable[tuple[bytes, Sequence[int]]]) -> None:
        """Record which rows hold each message text's chunks (see `lookup_texts`)."""
        conn = self._writer()
        data = [(key, _pack_rows(rows)) for key, rows in items]
        if data:
            with _transaction(conn):
                conn.executemany("INSERT OR REPLACE INTO texts (key, rows) VALUES (?, ?)", data)

    def _lookup(self, table: str, column: str, keys: Sequence[bytes]) -> dict[bytes, Any]:
        conn = self._writer()
        found: dict[bytes, Any] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            for key, value in conn.execute(
                f"SELECT key, {column} FROM {table} WHERE key IN ({marks})", part
            ):
                found[bytes(key)] = value
        return found

    def append(self, keys: Sequence[bytes], vectors: npt.NDArray[np.float32]) -> list[int]:
        """Append vectors and their int8 copy (fsynced), then record their keys;
        returns their rows."""
        import numpy as np

        conn = self._writer()
        if len(keys) == 0:
            return []
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        assert data.shape == (len(keys), self.dim)
        rows = int(conn.execute("SELECT value FROM meta WHERE key = 'rows'").fetchone()[0])
        f32, _, _ = self.files(self._gen)
        _write_at(f32, rows * self._row_bytes, data.tobytes())
        self._write_codes(rows, data)
        new_rows = list(range(rows, rows + len(keys)))
        with _transaction(conn):
            conn.executemany(
                "INSERT OR REPLACE INTO chunks (key, row) VALUES (?, ?)",
                zip(keys, new_rows, strict=True),
            )
            conn.execute("UPDATE meta SET value = ? WHERE key = 'rows'", (rows + len(keys),))
        self._maybe_train(rows + len(keys))
        return new_rows

    def _write_codes(self, first_row: int, data: Any) -> None:
        """The int8 copy of rows `first_row`… (fsynced)."""
        _, i8, scale = self.files(self._gen)
        codes, scales = quantise(data)
        _write_at(i8, first_row * self.dim, codes.tobytes())
        _write_at(scale, first_row * 4, scales.tobytes())
        if self._projection is not None:
            self._complete_reduced(first_row)
            self._write_reduced(first_row, data)

    def _write_reduced(self, first_row: int, data: Any) -> None:
        """The reduced copy (projected, int8) of rows `first_row`… (fsynced)."""
        import numpy as np

        assert self._projection is not None
        matrix = self._projection[0]
        r8, rscale = self.reduced_files(self._gen)
        codes, scales = quantise(np.asarray(data, dtype=np.float32) @ matrix)
        _write_at(r8, first_row * matrix.shape[1], codes.tobytes())
        _write_at(rscale, first_row * 4, scales.tobytes())

    def _complete_reduced(self, rows: int) -> None:
        """Make the reduced copy cover the first `rows` rows (once the projection exists)."""
        import numpy as np

        if self._projection is None:
            return
        dims = self._projection[0].shape[1]
        r8, rscale = self.reduced_files(self._gen)
        have = min(
            r8.stat().st_size // dims if r8.exists() else 0,
            rscale.stat().st_size // 4 if rscale.exists() else 0,
            rows,
        )
        for path, unit in ((r8, dims), (rscale, 4)):
            if path.exists() and path.stat().st_size != have * unit:
                with path.open("r+b") as fh:
                    fh.truncate(have * unit)
        if have >= rows:
            return
        f32 = self.files(self._gen)[0]
        exact = np.memmap(f32, dtype=np.float32, mode="r", shape=(rows, self.dim))
        for start in range(have, rows, COMPACT_STEP):
            self._write_reduced(start, np.asarray(exact[start : min(start + COMPACT_STEP, rows)]))

    def _maybe_train(self, rows: int) -> None:
        """Train the projection of the reduced copy once the store has REDUCED_MIN_ROWS
        rows (an even sample of up to REDUCED_SAMPLE of them), then project every row."""
        import numpy as np

        dims = reduced_dims(self.dim)
        if self._projection is not None or not dims or rows < max(REDUCED_MIN_ROWS, dims):
            return
        f32 = self.files(self._gen)[0]
        exact = np.memmap(f32, dtype=np.float32, mode="r", shape=(rows, self.dim))
        pick = np.unique(np.linspace(0, rows - 1, min(rows, REDUCED_SAMPLE)).astype(np.int64))
        matrix, energy = train_projection(np.asarray(exact[pick]), dims)
        _write_bytes_atomic(self.directory / f"{PROJECTION}.f32", matrix.tobytes())
        meta = {"dims": dims, "dim": self.dim, "energy": round(energy, 6), "trained_rows": rows}
        _write_atomic(self.directory / f"{PROJECTION}.json", json.dumps(meta))
        log.info(
            "semantic: reduced first pass trained (%d dims keep %.3f of the energy)", dims, energy
        )
        self._projection = (matrix, energy)
        self._complete_reduced(rows)

    def _complete_codes(self, rows: int) -> None:
        """Make the int8 copy match the float rows (a store from before it, or a crash)."""
        import numpy as np

        f32, i8, scale = self.files(self._gen)
        have = min(
            i8.stat().st_size // self.dim if i8.exists() else 0,
            scale.stat().st_size // 4 if scale.exists() else 0,
            rows,
        )
        for path, unit in ((i8, self.dim), (scale, 4)):
            if path.exists() and path.stat().st_size != have * unit:
                with path.open("r+b") as fh:
                    fh.truncate(have * unit)
        if have >= rows:
            return
        log.info("semantic: writing the int8 copy of %d vector rows", rows - have)
        exact = np.memmap(f32, dtype=np.float32, mode="r", shape=(rows, self.dim))
        for start in range(have, rows, COMPACT_STEP):
            self._write_codes(start, np.asarray(exact[start : min(start + COMPACT_STEP, rows)]))

    def compact(self, live: Any) -> int:
        """Copy the rows in `live` (sorted, unique) into a new generation and renumber the
        cache: row `live[i]` becomes row i; rows not in `live` are dropped with their cache
        entries. Returns the new generation. The caller renumbers the mirror (the same
        mapping) and names the new generation there, then calls `drop_generation`."""
        import numpy as np

        conn = self._writer()
        live = np.asarray(live, dtype=np.int64)
        rows = int(conn.execute("SELECT value FROM meta WHERE key = 'rows'").fetchone()[0])
        assert len(live) == 0 or (live[-1] < rows and np.all(np.diff(live) > 0))
        old_gen, new_gen = self._gen, self._gen + 1
        old = np.memmap(self.files(old_gen)[0], dtype=np.float32, mode="r", shape=(rows, self.dim))
        for path in self.all_files(new_gen):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        f32, _, _ = self.files(new_gen)
        f32.touch()
        self._gen = new_gen  # _write_codes writes the new generation's int8 copy
        try:
            with f32.open("r+b") as fh:
                for start in range(0, len(live), COMPACT_STEP):
                    part = np.asarray(old[live[start : start + COMPACT_STEP]])
                    fh.write(part.tobytes())
                    self._write_codes(start, part)
                fh.flush()
                os.fsync(fh.fileno())
            _fsync_dir(self.directory)
            with _transaction(conn):
                conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS renumber (old INTEGER PRIMARY KEY, new)"
                )
                conn.execute("DELETE FROM temp.renumber")
                conn.executemany(
                    "INSERT INTO temp.renumber VALUES (?, ?)",
                    zip(live.tolist(), range(len(live)), strict=True),
                )
                conn.execute("DELETE FROM chunks WHERE row NOT IN (SELECT old FROM temp.renumber)")
                conn.execute(
                    "UPDATE chunks SET row = (SELECT new FROM temp.renumber WHERE old = chunks.row)"
                )
                keep = []
                for key, blob in conn.execute("SELECT key, rows FROM texts"):
                    old_rows = np.frombuffer(blob, dtype="<i8")
                    at = np.searchsorted(live, old_rows)
                    at_ok = at < len(live)
                    if at_ok.all() and np.array_equal(live[at], old_rows):
                        keep.append((key, at.astype("<i8").tobytes()))
                conn.execute("DELETE FROM texts")
                conn.executemany("INSERT INTO texts (key, rows) VALUES (?, ?)", keep)
                conn.execute("DELETE FROM temp.renumber")
                conn.execute("UPDATE meta SET value = ? WHERE key = 'rows'", (len(live),))
                conn.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (new_gen,))
        except BaseException:
            self._gen = old_gen
            for path in self.all_files(new_gen):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise
        return new_gen

    def drop_generation(self, generation: int) -> None:
        """Unlink a generation's files (readers that mapped them keep their mapping)."""
        if generation == self._gen:
            return
        for path in self.all_files(generation):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _drop_other_generations(self, keep: int) -> None:
        """Files of any other generation: left by a compaction that crashed, or by one
        whose mirror update was recorded (the writer drops them after)."""
        wanted = {*_names(keep), *_reduced_names(keep)}
        for name in os.listdir(self.directory):
            if name.startswith("vectors") and name not in wanted:
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / name).unlink()

    def _writer(self) -> sqlite3.Connection:
        if self._cache is None:
            raise RuntimeError("the vector store is not open for writing")
        return self._cache

    # ------------------------------------------------------------------ readers (everyone)

    def view(self, store_id: str, generation: int = 0, need_rows: int = 0) -> VectorView | None:
        """The rows of one generation as read-only maps (None if the store is not
        `store_id` or that generation is gone), mapped again when the file has grown past
        what this process mapped."""
        import numpy as np

        with self._lock:
            cached = self._map
            if (
                cached is not None
                and cached[0] == store_id
                and cached[1] == generation
                and cached[2] >= need_rows
                and (
                    cached[3].projection is not None
                    or not (self.directory / f"{PROJECTION}.json").exists()
                )
            ):
                return cached[3]
            if self.store_id() != store_id:
                return None
            f32, i8, scale = self.files(generation)
            try:
                with f32.open("rb") as fh:  # opened once: an unlink after this is harmless
                    rows = os.fstat(fh.fileno()).st_size // self._row_bytes
                    if rows == 0:
                        empty = np.zeros((0, self.dim), dtype=np.float32)
                        return VectorView(empty, None, None)
                    exact = np.memmap(fh, dtype=np.float32, mode="r", shape=(rows, self.dim))
            except FileNotFoundError:
                return None
            codes = scales = None
            with (
                contextlib.suppress(OSError, ValueError),
                i8.open("rb") as fc,
                scale.open("rb") as fs,
            ):
                quantised = min(
                    os.fstat(fc.fileno()).st_size // self.dim,
                    os.fstat(fs.fileno()).st_size // 4,
                    rows,
                )
                if quantised:
                    codes = np.memmap(fc, dtype=np.int8, mode="r", shape=(quantised, self.dim))
                    scales = np.memmap(fs, dtype=np.float32, mode="r", shape=(quantised,))
            view = VectorView(_plain(exact), _plain(codes), _plain(scales))
            projection = self.read_projection()
            r8, rscale = self.reduced_files(generation)
            if projection is not None:
                dims = projection[0].shape[1]
                with (
                    contextlib.suppress(OSError, ValueError),
                    r8.open("rb") as fr,
                    rscale.open("rb") as fs,
                ):
                    projected = min(
                        os.fstat(fr.fileno()).st_size // dims,
                        os.fstat(fs.fileno()).st_size // 4,
                        rows,
                    )
                    if projected:
                        reduced = np.memmap(fr, dtype=np.int8, mode="r", shape=(projected, dims))
                        rscales = np.memmap(fs, dtype=np.float32, mode="r", shape=(projected,))
                        view.reduced, view.rscales = _plain(reduced), _plain(rscales)
                        view.projection, view.energy = projection
            self._map = (store_id, generation, rows, view)
            return view


def _plain(mapped: Any) -> Any:
    """A plain ndarray over a memmap's pages (indexing a `numpy.memmap` goes through
    Python code each time); the mapping lives as long as the array."""
    import numpy as np

    return None if mapped is None else np.asarray(mapped)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Any:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _write_at(path: Path, offset: int, data: bytes) -> None:
    """Write `data` at `offset` (the file is created if needed) and fsync."""
    with path.open("r+b" if path.exists() else "w+b") as fh:
        fh.seek(offset)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _write_atomic(path: Path, text: str) -> None:
    _write_bytes_atomic(path, text.encode("utf-8"))
