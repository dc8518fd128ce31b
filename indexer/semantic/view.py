"""Scoring a generation of the vector store: `VectorView` holds its rows as read-only maps
(float32, the int8 copy, the reduced copy) and scores a query against them.

- exact: every row in float32 (`score_all`, `score_rows`);
- the int8 first pass (`approximate`): every row from the quarter-size copy, in blocks
  that stay in L2, optionally on several threads (numpy releases the GIL);
- the reduced first pass (`candidates`): every row projected on `REDUCED_DIMS` directions
  and quantised, used when the projection keeps at least `REDUCED_MIN_ENERGY` of the rows'
  energy; the best `REDUCED_RESCORE` rows go on to be scored exactly.

How the rows are written, and the projection trained, is store.py's business.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = (
    "PREFILTER_MIN_ROWS",
    "REDUCED_DIMS",
    "VectorView",
    "quantise",
    "reduced_dims",
    "top_k",
    "train_projection",
)

PREFILTER_MIN_ROWS = 20_000  # below this, exact float32 scoring of every row is as fast
SCAN_BLOCK = 1024  # int8 rows converted per step: stays in L2, and BLAS does not thread it
# The reduced first pass (docs/retrieval.md): rows projected on the REDUCED_DIMS directions
# that carry most of their energy (uncentred PCA of a sample, trained once by the writer).
REDUCED_DIMS = 128
REDUCED_MIN_ENERGY = 0.7  # share of the rows' energy the projection must keep to be used
REDUCED_RESCORE = 4096  # rows of the reduced pass scored again exactly (at least)
REDUCED_MAX_TAIL = 65_536  # rows not projected yet that a reduced search scores exactly


def reduced_dims(dim: int) -> int:
    """Dimensions of the reduced copy for `dim`-dimensional rows (0: none)."""
    dims = min(REDUCED_DIMS, dim // 2)
    return dims if dims >= 8 else 0


def train_projection(sample: Any, dims: int) -> tuple[Any, float]:
    """The `dims` directions carrying most of the rows' energy (uncentred PCA: the top
    eigenvectors of XᵀX), as a (dim, dims) float32 matrix, and the share of the energy
    they keep."""
    import numpy as np

    data = np.asarray(sample, dtype=np.float64)
    values, vectors = np.linalg.eigh(data.T @ data)
    order = np.argsort(values)[::-1][:dims]
    total = float(values.sum())
    energy = float(values[order].sum() / total) if total > 0 else 0.0
    return np.ascontiguousarray(vectors[:, order], dtype=np.float32), energy


def quantise(vectors: npt.NDArray[np.float32]) -> tuple[Any, Any]:
    """int8 rows and their float32 scales: row ≈ int8 row × scale."""
    import numpy as np

    data = np.asarray(vectors, dtype=np.float32)
    scales = np.abs(data).max(axis=1) / np.float32(127.0) if len(data) else np.zeros(0)
    scales = np.maximum(scales, np.float32(1e-12)).astype(np.float32)
    codes = np.rint(data / scales[:, None]).clip(-127, 127).astype(np.int8)
    return codes, scales


@dataclass
class VectorView:
    """One generation's rows as read-only maps: `exact` (float32) and, for the first
    `len(codes)` rows, the int8 copy with its scales."""

    exact: Any  # (rows, dim) float32 memmap
    codes: Any  # (quantised rows, dim) int8 memmap, or None
    scales: Any  # (quantised rows,) float32 memmap, or None
    reduced: Any = None  # (projected rows, dims) int8 memmap, or None
    rscales: Any = None  # (projected rows,) float32 memmap, or None
    projection: Any = None  # (dim, dims) float32, or None
    energy: float = 0.0  # share of the energy the projection keeps

    def __len__(self) -> int:
        return len(self.exact)

    def has_reduced(self) -> bool:
        """The reduced first pass can be used: the projection keeps enough of the rows'
        energy, and few rows are not projected yet."""
        return (
            self.reduced is not None
            and self.projection is not None
            and self.energy >= REDUCED_MIN_ENERGY
            and len(self.exact) - len(self.reduced) <= REDUCED_MAX_TAIL
        )

    def candidates(self, query: Any, k: int, threads: int = 1) -> Any:
        """Rows likely to hold the `k` best (sorted): the best max(k, REDUCED_RESCORE)
        by the reduced pass, plus every row not projected yet. Needs `has_reduced()`."""
        import numpy as np

        n, m = len(self.exact), min(len(self.reduced), len(self.exact))
        projected = np.asarray(query, dtype=np.float32) @ self.projection
        scores = np.empty(m, dtype=np.float32)
        self._scan_all(self.reduced, self.rscales, projected, scores, m, threads)
        pick = top_k(scores, min(m, max(k, REDUCED_RESCORE)))
        if m < n:
            pick = np.concatenate([pick, np.arange(m, n)])
        pick.sort()
        return pick

    def approximate(self, query: Any, threads: int = 1) -> Any:
        """A score for every row: int8 dot products (float32 for rows not quantised).
        With `threads` > 1 the rows are split between threads (numpy releases the GIL)."""
        import numpy as np

        n = len(self.exact)
        out = np.empty(n, dtype=np.float32)
        done = 0
        if self.codes is not None and len(self.codes):
            done = min(len(self.codes), n)
            self._scan_all(self.codes, self.scales, query, out, done, threads)
        if done < n:
            out[done:] = self.exact[done:] @ query
        return out

    @staticmethod
    def _scan_all(codes: Any, scales: Any, query: Any, out: Any, rows: int, threads: int) -> None:
        """out[:rows] = int8 rows · query × scales, split over `threads`."""
        if threads > 1 and rows >= 4 * SCAN_BLOCK * threads:
            step = -(-rows // threads // SCAN_BLOCK) * SCAN_BLOCK
            bounds = [(a, min(a + step, rows)) for a in range(0, rows, step)]
            list(
                _pool(threads).map(
                    lambda b: VectorView._scan(codes, scales, query, out, *b), bounds
                )
            )
        else:
            VectorView._scan(codes, scales, query, out, 0, rows)

    @staticmethod
    def _scan(codes: Any, scales: Any, query: Any, out: Any, first: int, last: int) -> None:
        import numpy as np

        step = SCAN_BLOCK * max(1, 384 // codes.shape[1])  # narrower rows: more per block
        buf = np.empty((step, codes.shape[1]), dtype=np.float32)
        for start in range(first, last, step):
            stop = min(start + step, last)
            block = buf[: stop - start]
            np.copyto(block, codes[start:stop], casting="unsafe")
            np.matmul(block, query, out=out[start:stop])
        out[first:last] *= scales[first:last]

    def score_all(self, query: Any) -> Any:
        """Exact scores of every row."""
        return self.exact @ query

    def score_rows(self, rows: Any, query: Any) -> Any:
        """Exact scores of the given rows."""
        import numpy as np

        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) * 4 > len(self.exact):
            return (self.exact @ query)[rows]
        return self.exact[rows] @ query


_pools: dict[int, Any] = {}
_pools_lock = threading.Lock()


def _pool(threads: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(threads, "codearchitect-scan")
        return pool


def top_k(scores: Any, k: int) -> Any:
    """Indices of the `k` highest scores (unordered). Large arrays: a threshold from a
    sample first, so that only the rows above it are partitioned."""
    import numpy as np

    n = len(scores)
    if k >= n:
        return np.arange(n)
    if n < 65_536 or k * 64 > n:
        return np.argpartition(-scores, k - 1)[:k]
    step = n // 8192
    sample = scores[::step]
    m = min(len(sample), 2 * (k * len(sample) // n) + 16)  # twice the share, at least 16
    threshold = np.partition(sample, len(sample) - m)[len(sample) - m]
    above = np.flatnonzero(scores >= threshold)
    if len(above) < k:  # an unlucky sample
        return np.argpartition(-scores, k - 1)[:k]
    return above[np.argpartition(-scores[above], k - 1)[:k]]
