"""Fusing the two sides of hybrid search (docs/retrieval.md, "The fusion rule").

Each side's candidate scores (BM25, cosine) are put on one scale by z-scoring them over
that side's candidates; a message's fused score is the weighted sum of its two z-scores,
where a side that did not find the message counts that side's last candidate's score (the
most the message can have scored there). Then conversation context: a message is lifted by
its best neighbour in the same session (a turn at most `NEIGHBOUR_WINDOW` places before or
after it, among the candidates), `NEIGHBOUR_LIFT` times that neighbour's fused score, or
lowered by `NEIGHBOUR_LIFT` x `NEIGHBOUR_FLOOR` when no neighbour is a candidate: an answer
after a question that matches, or a question before an answer that matches, rises.

Chosen by measurement on LoCoMo (bench/locomo.py) over reciprocal rank fusion, whose
k = 60 with deep lists let messages found half-way down both lists outrank the best of
one; the figures are in docs/retrieval.md.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

__all__ = (
    "NEIGHBOUR_FLOOR",
    "NEIGHBOUR_LIFT",
    "NEIGHBOUR_WINDOW",
    "SEMANTIC_WEIGHT",
    "fuse",
    "lift_by_neighbours",
)

K = TypeVar("K", bound=Hashable)

SEMANTIC_WEIGHT = 1.0  # the semantic side's weight; the keyword side's is 1
NEIGHBOUR_LIFT = 0.5
NEIGHBOUR_FLOOR = -1.0  # a missing neighbour counts as this z-score
NEIGHBOUR_WINDOW = 2  # turns on each side of a message that count as its neighbours


def zscores(scored: Sequence[tuple[K, float]]) -> dict[K, float]:
    """Each key's score minus the mean, over the standard deviation (1 when all equal);
    a key listed twice keeps its first (best) score."""
    first: dict[K, float] = {}
    for key, score in scored:
        first.setdefault(key, score)
    if not first:
        return {}
    values = list(first.values())
    mean = math.fsum(values) / len(values)
    # plain floats: statistics.pstdev computes exactly with fractions (~1 ms for 150 values)
    spread = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values)) or 1.0
    return {key: (score - mean) / spread for key, score in first.items()}


def fuse(
    keyword: Sequence[tuple[K, float]],
    semantic: Sequence[tuple[K, float]],
    semantic_weight: float = SEMANTIC_WEIGHT,
) -> dict[K, float]:
    """key -> z(keyword score) + semantic_weight x z(semantic score), for every key
    either side found; a side that did not find a key counts its lowest z-score (its last
    candidate's: the key scored at most that there). A side with no candidates counts 0."""
    kw, sem = zscores(keyword), zscores(semantic)
    kw_floor, sem_floor = min(kw.values(), default=0.0), min(sem.values(), default=0.0)
    return {
        key: kw.get(key, kw_floor) + semantic_weight * sem.get(key, sem_floor)
        for key in {**kw, **sem}
    }


def lift_by_neighbours(
    scores: Mapping[K, float],
    neighbours: Mapping[K, Sequence[K]],
    lift: float = NEIGHBOUR_LIFT,
    floor: float = NEIGHBOUR_FLOOR,
) -> dict[K, float]:
    """key -> score + lift x max(floor, the best score among its neighbours that are
    scored)."""
    out: dict[K, float] = {}
    for key, score in scores.items():
        near = [scores[n] for n in neighbours.get(key, ()) if n in scores]
        out[key] = score + lift * max([floor, *near])
    return out
