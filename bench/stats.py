"""Small numeric helpers: summaries (median, p95) and peak memory of this process."""

from __future__ import annotations

import math
import resource
import statistics
from pathlib import Path
from typing import Any

__all__ = ("peak_rss_mb", "percentile", "proc_peak_rss_mb", "rate_summary", "summarize")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(values: list[float], unit: str = "ms", **extra: Any) -> dict[str, Any]:
    """`{unit, median, p95, min, max, n}` of repeated measurements (plus `extra`)."""
    if not values:
        return {"unit": unit, "median": None, "p95": None, "min": None, "max": None, "n": 0}
    out: dict[str, Any] = {
        "unit": unit,
        "median": round(statistics.median(values), 4),
        "p95": round(percentile(values, 95), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "n": len(values),
    }
    out.update(extra)
    return out


def rate_summary(seconds: list[float], amount: float, unit: str, **extra: Any) -> dict[str, Any]:
    """A throughput: `median` is amount / median time; `p95` is amount / p95 time (the slow
    tail), so both read as "at least this fast in half / 95% of the runs"."""
    if not seconds:
        return summarize([], unit, **extra)
    out = summarize([amount / s for s in seconds], unit, **extra)
    out["median"] = round(amount / statistics.median(seconds), 2)
    out["p95"] = round(amount / percentile(seconds, 95), 2)
    out["seconds_median"] = round(statistics.median(seconds), 3)
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory (ru_maxrss is in KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def proc_peak_rss_mb(pid: int) -> float | None:
    """Another live process's peak resident memory (VmHWM), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
