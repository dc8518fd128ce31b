"""Fusing ranked lists of hits (hybrid search, docs/retrieval.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ("RRF_K", "rrf")

RRF_K = 60


def rrf(rankings: Sequence[Sequence[Any]], k: int = RRF_K) -> dict[Any, float]:
    """Reciprocal rank fusion: key -> sum over lists of 1 / (k + rank), rank from 1."""
    fused: dict[Any, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
    return fused
