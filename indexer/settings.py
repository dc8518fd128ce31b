"""Indexer settings: each from an explicit argument, else an environment variable, else a default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ("IndexSettings",)


def _default_force_polling() -> bool:
    return os.environ.get("CODEARCHITECT_FORCE_POLLING", "").lower() in ("1", "true", "yes")


def _default_reconcile_interval() -> float:
    return float(os.environ.get("CODEARCHITECT_RECONCILE_INTERVAL", "300"))


@dataclass(frozen=True)
class IndexSettings:
    """Timings and limits of the background indexing (docs/indexing.md)."""

    watch: bool = True  # run the file watcher when this process leads
    force_polling: bool = field(default_factory=_default_force_polling)
    debounce_ms: int = 200  # longest wait to grow a batch of file events
    step_ms: int = 25  # a batch is ready after this long without events
    poll_interval: float = 0.5  # stat interval of the polling fallback
    apply_interval: float = 0.1  # leader: how often it checks the queue for other processes
    leader_retry: float = 1.0  # follower: how often it tries to take over
    reconcile_interval: float = field(default_factory=_default_reconcile_interval)
    git_pause_max: float = 10.0  # hold watcher batches while .git/index.lock exists
    temp_max_age: float = 900.0  # sweep vault temp files older than this (seconds)
    overlay_max: int = 5000  # most queued messages a search covers in memory
    writer_heap_bytes: int = 64_000_000
    busy_timeout_ms: int = 5000
