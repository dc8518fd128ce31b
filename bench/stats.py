"""Small numeric helpers: summaries (median, p95) and peak memory of this process."""

from __future__ import annotations

import math
import resource
import statistics
from pathlib import Path
from typing import Any

__all__ = (
    "peak_rss_mb",
    "percentile",
    "proc_peak_rss_mb",
    "rate_summary",
    "rss_now_mb",
    "summarize",
)


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
    """This process's peak resident memory: VmHWM (ru_maxrss would also count the RSS of the
    parent at fork, which Linux carries across exec), else ru_maxrss (KiB on Linux)."""
    peak = proc_peak_rss_mb("self")
    if peak is not None:
        return peak
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _status(pid: int | str) -> dict[str, int]:
    """The kB fields of /proc/<pid>/status."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[name] = int(parts[0])
    return out


def proc_peak_rss_mb(pid: int | str) -> float | None:
    """A live process's peak resident memory (VmHWM), or None."""
    value = _status(pid).get("VmHWM")
    return None if value is None else round(value / 1024, 1)


def rss_now_mb(pid: int | str = "self") -> dict[str, float]:
    """Resident memory now, split: anonymous (heap) and file-backed (mapped index files,
    which the kernel can drop at will) — what VmHWM lumps together."""
    st = _status(pid)
    return {k: round(st.get(f, 0) / 1024, 1) for k, f in (("anon", "RssAnon"), ("file", "RssFile"))}
