"""Vector search: the messages nearest a query vector, with the filters of keyword search
(docs/retrieval.md, "Search modes"). A message's score is its best chunk's.

Below `PREFILTER_MIN_ROWS` rows every row is scored exactly. Above, every row is scored
from the reduced copy (where the store has a usable one) or the int8 copy, and the best
candidates are scored again exactly, in that exact order. A filter passing at most
`SELECTIVE_ROWS` rows is answered by scoring just those rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..filters import MessageFilter
from ..mirror import get_state
from .view import PREFILTER_MIN_ROWS, top_k

if TYPE_CHECKING:
    from .index import SemanticIndex

__all__ = ("PREFILTER_MIN_ROWS", "VectorHit", "nearest_messages", "plain")

SELECTIVE_ROWS = 20_000  # a filter passing fewer rows: score just those
PREFILTER_EXTRA = 256  # rows rescored exactly beyond 3 x wanted + 32
SCAN_THREADS = min(2, os.cpu_count() or 1)  # threads for the int8 pass over every row
REDUCED = True  # use the reduced first pass where the store has one (view.py)


@dataclass(frozen=True)
class VectorHit:
    pk: int
    score: float
    chunk: int


def nearest_messages(
    index: SemanticIndex, query_vector: Any, filters: MessageFilter, want: int
) -> list[VectorHit]:
    """The `want` best messages by cosine of their best chunk, filters applied.

    Above `PREFILTER_MIN_ROWS` rows, every row is scored from a compact copy and the best
    few hundred (or thousand) are scored again exactly (float32); the order returned is
    the exact one."""
    for _ in range(3):
        hits = _search(index, query_vector, filters, want)
        if hits is not None:
            return hits
    return []  # the store changed under us three times running


def plain(conn: sqlite3.Connection) -> sqlite3.Cursor:
    """A cursor returning plain tuples (cheaper than the mirror's `sqlite3.Row`s)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor


def _search(
    index: SemanticIndex, query_vector: Any, filters: MessageFilter, want: int
) -> list[VectorHit] | None:
    import numpy as np

    store = index.store()
    with index.mirror.read() as conn:
        named = index.parse_state(get_state(conn, "vec_store"), store)
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
                cand = plain(conn).execute(passing, params).fetchall()
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
            resolved = plain(conn).execute(resolve, [json.dumps(pick.tolist()), *params]).fetchall()
            if resolved:
                arr = np.array(resolved, dtype=np.int64)
                scores = exact[np.searchsorted(pick, arr[:, 2])]
                hits = _best_per_message(arr[:, 0], arr[:, 1], scores, want)
            else:
                hits = []
            if len(hits) >= want or k >= n:
                return hits
            k = min(n, k * 4)


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
