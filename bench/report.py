"""Turning the phases' raw results into figures, ratios, budgets and a markdown table."""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from .queries import FILTERS, KINDS
from .stats import rate_summary, summarize

__all__ = ("REQUIRED_FIGURES", "assemble", "machine", "markdown")

REPO = Path(__file__).resolve().parents[1]
SEARCH_SERIES = [f"{k}/{f}" for k in KINDS for f in FILTERS]

# Every figure a complete run reports (tests/test_bench.py checks them all).
REQUIRED_FIGURES = (
    "rebuild.messages_per_s",
    "rebuild.mb_per_s",
    "reconcile.0_changed",
    "reconcile.changed",
    *(f"search.inproc.{s}" for s in SEARCH_SERIES),
    *(f"search.mcp.{s}" for s in SEARCH_SERIES),
    *(f"search.fts5.{s}" for s in SEARCH_SERIES),
    *(f"search.scan.{k}/none" for k in KINDS),
    "store.new_session",
    "store.small_session",
    "store.long_session",
    "store.mcp",
    "store.first_after_start",
    "store.concurrent",
    "store.concurrent_throughput",
    "watch.save_to_searchable",
    "serve.tools_list",
    "serve.tools_list_cold",
    "disk.index_ratio",
    "fts5.build.messages_per_s",
    "memory.peak_rss_mb",
    "import.mb_per_s",
    "capture.incremental_ms",
)
CHECKS = ("inproc", "fts5", "scan", "mcp")


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    rg = shutil.which("rg")
    rg_version = None
    if rg:
        out = subprocess.run([rg, "--version"], capture_output=True, text=True, check=False)
        rg_version = out.stdout.split("\n", 1)[0]
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "tantivy": _version("tantivy"),
        "mcp": _version("mcp"),
        "ripgrep": rg_version,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=10
        )
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _one(value: float, unit: str, **extra: Any) -> dict[str, Any]:
    return summarize([value], unit, **extra)


def assemble(
    *,
    size_name: str,
    size: dict[str, Any],
    manifest: dict[str, Any],
    raw: dict[str, list[dict[str, Any]]],
    errors: dict[str, str],
    index_bytes: int,
    seconds: float,
    machine: dict[str, Any],
) -> dict[str, Any]:
    """The results document: meta, figures, ratios, checks, memory, budgets."""
    messages = int(manifest["messages"])
    mb = manifest["bytes"] / 1e6
    fig: dict[str, dict[str, Any]] = {}

    def first(key: str) -> dict[str, Any] | None:
        runs = raw.get(key)
        return runs[0] if runs else None

    rebuilds = raw.get("rebuild", [])
    if rebuilds:
        secs = [r["seconds"] for r in rebuilds]
        fig["rebuild.messages_per_s"] = rate_summary(secs, messages, "messages/s")
        fig["rebuild.mb_per_s"] = rate_summary(secs, mb, "MB/s")
    for key, name in (
        ("reconcile_0", "reconcile.0_changed"),
        ("reconcile_changed", "reconcile.changed"),
    ):
        runs = raw.get(key, [])
        if runs:
            fig[name] = summarize(
                [r["seconds"] * 1000 for r in runs],
                "ms",
                changed_files=runs[0]["changed"],
                scanned=runs[0]["scanned"],
                runs_ms=[round(r["seconds"] * 1000, 1) for r in runs],
            )
    for engine, key in (
        ("inproc", "search"),
        ("fts5", "fts5_search"),
        ("scan", "scan"),
        ("mcp", "mcp"),
    ):
        run = first(key)
        if run:
            for series, values in run["series"].items():
                fig[f"search.{engine}.{series}"] = values
    store = first("store")
    if store:
        for kind, name in (
            ("new", "new_session"),
            ("small", "small_session"),
            ("long", "long_session"),
        ):
            fig[f"store.{name}"] = store["series"][kind]
        fig["store.long_session"]["session_messages"] = store["long_session_messages"]
    firsts = raw.get("first_store", [])
    if firsts:
        fig["store.first_after_start"] = summarize(
            [r["first_ms"] for r in firsts],
            "ms",
            second_median=summarize([r["second_ms"] for r in firsts])["median"],
        )
    mcp = first("mcp")
    if mcp:
        fig["store.mcp"] = mcp["store"]
    writers = raw.get("writers", [])
    if writers:
        times = [t for w in writers for t in w["times"]]
        fig["store.concurrent"] = summarize(times, "ms", processes=len(writers))
        span = max(w["ended"] for w in writers) - min(w["began"] for w in writers)
        fig["store.concurrent_throughput"] = _one(len(times) / span, "messages/s")
    watch = first("watch")
    if watch:
        fig["watch.save_to_searchable"] = dict(watch["series"], missed=len(watch["missed"]))
    for key, name in (("serve_warm", "serve.tools_list"), ("serve_cold", "serve.tools_list_cold")):
        run = first(key)
        if run:
            fig[name] = run["series"]
    if "serve.tools_list" not in fig and mcp and "start_ms" in mcp:
        fig["serve.tools_list"] = summarize([mcp["start_ms"]], "ms", source="the MCP phase's start")
    fts_build = first("fts5_build")
    fig["disk.index_ratio"] = _one(
        index_bytes / manifest["bytes"], "× markdown", index_mb=round(index_bytes / 1e6, 1)
    )
    if fts_build:
        fig["fts5.build.messages_per_s"] = rate_summary(
            [fts_build["seconds"]], fts_build["messages"], "messages/s"
        )
        fig["disk.fts5_ratio"] = _one(
            fts_build["bytes"] / manifest["bytes"],
            "× markdown",
            fts5_mb=round(fts_build["bytes"] / 1e6, 1),
        )
    imports = first("import")
    if imports and "seconds" in imports and imports["bytes"]:
        fig["import.mb_per_s"] = rate_summary(
            imports["seconds"], imports["bytes"] / 1e6, "MB/s", sources=imports["sources"]
        )
    if imports and imports.get("capture_ms"):
        fig["capture.incremental_ms"] = summarize(imports["capture_ms"], "ms")
    memory = _memory(raw)
    ours = [v for k, v in memory.items() if not k.startswith(("fts5", "scan"))]
    if ours:
        fig["memory.peak_rss_mb"] = _one(
            max(ours), "MB", by_phase=memory, end_split=_memory_split(raw)
        )

    ratios = _ratios(fig)
    checks = _checks(raw, rebuilds, store, mcp, watch, writers, size)
    missing = [f for f in REQUIRED_FIGURES if f not in fig]
    budgets = _budgets(fig)
    ok = not errors and not missing and all(c["ok"] for c in checks.values())
    return {
        "meta": {
            "size": size_name,
            "params": size,
            "sessions": manifest["sessions"],
            "messages": messages,
            "markdown_mb": round(mb, 1),
            "seed": manifest["seed"],
            "generator_version": manifest.get("generator_version"),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "seconds": round(seconds, 1),
            "command": " ".join(["python", "-m", "bench.run", *sys.argv[1:]]),
            "loadavg_1min_after_phases": _loads(raw),
            "machine": machine,
        },
        "ok": ok,
        "figures": fig,
        "ratios": ratios,
        "checks": checks,
        "budgets": budgets,
        "missing_figures": missing,
        "errors": errors,
    }


def _memory(raw: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, runs in raw.items():
        for run in runs:
            for field, label in (
                ("peak_rss_mb", key),
                ("server_peak_rss_mb", f"{key} (server)"),
                ("leader_peak_rss_mb", f"{key} (leader)"),
            ):
                value = run.get(field)
                if isinstance(value, int | float):
                    out[label] = max(out.get(label, 0.0), float(value))
    return dict(sorted(out.items()))


def _loads(raw: dict[str, list[dict[str, Any]]]) -> dict[str, float] | None:
    """The machine's 1-minute load average after each phase: other work on the machine
    shows here (2 cores: a load above ~1.5 means our timings shared the CPU)."""
    loads = [r["loadavg_1min"] for runs in raw.values() for r in runs if "loadavg_1min" in r]
    if not loads:
        return None
    return {"min": round(min(loads), 2), "max": round(max(loads), 2)}


def _memory_split(raw: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Resident memory at the end of each phase, anonymous vs file-backed (mapped index)."""
    out: dict[str, dict[str, float]] = {}
    for key, runs in raw.items():
        for field, label in (("rss_end_mb", key), ("server_rss_end_mb", f"{key} (server)")):
            value = runs[-1].get(field) if runs else None
            if isinstance(value, dict) and value:
                out[label] = value
    return dict(sorted(out.items()))


def _ratios(fig: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """How many times faster than each baseline (median over median; > 1: we are faster)."""
    out: dict[str, dict[str, float | None]] = {}
    for series in SEARCH_SERIES:
        ours = fig.get(f"search.inproc.{series}", {}).get("median")
        row: dict[str, float | None] = {}
        for base in ("fts5", "scan"):
            theirs = fig.get(f"search.{base}.{series}", {}).get("median")
            row[base] = round(theirs / ours, 1) if ours and theirs else None
        out[f"search.{series}"] = row
    ours = fig.get("rebuild.messages_per_s", {}).get("median")
    theirs = fig.get("fts5.build.messages_per_s", {}).get("median")
    out["rebuild"] = {"fts5": round(ours / theirs, 2) if ours and theirs else None}
    return out


def _checks(
    raw: dict[str, list[dict[str, Any]]],
    rebuilds: list[dict[str, Any]],
    store: dict[str, Any] | None,
    mcp: dict[str, Any] | None,
    watch: dict[str, Any] | None,
    writers: list[dict[str, Any]],
    size: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Correctness: planted-term searches per engine, and what each write phase verified."""
    out: dict[str, dict[str, Any]] = {}
    for engine, key in (
        ("inproc", "search"),
        ("fts5", "fts5_search"),
        ("scan", "scan"),
        ("mcp", "mcp"),
    ):
        runs = raw.get(key)
        out[f"planted.{engine}"] = (
            runs[0]["checks"] if runs else {"ok": False, "checked": 0, "error": "not run"}
        )
    out["rebuild.complete"] = {"ok": bool(rebuilds) and all(r["complete"] for r in rebuilds)}
    changed = raw.get("reconcile_changed", [])
    out["reconcile.edits_found"] = {
        "ok": bool(changed) and all(not r["tokens_missing"] and r["changed"] >= 1 for r in changed),
    }
    out["store.visible"] = {
        "ok": bool(store)
        and bool(store and store["visible_ok"])
        and bool(mcp and mcp["store_visible_ok"])
    }
    out["store.concurrent_counts"] = {
        "ok": len(writers) == size["writers"]
        and all(w["count"] == size["writer_repeats"] + 1 for w in writers),
    }
    out["watch.all_found"] = {"ok": bool(watch) and not (watch or {}).get("missed")}
    return out


def _budgets(fig: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """DESIGN.md's performance budget, each line met or not (None: not measured)."""

    def get(name: str, stat: str = "median") -> float | None:
        value = fig.get(name, {}).get(stat)
        return float(value) if isinstance(value, int | float) else None

    def line(budget: str, measured: str, met: bool | None) -> dict[str, Any]:
        return {"budget": budget, "measured": measured, "met": met}

    out = []
    rate = get("rebuild.messages_per_s")
    out.append(
        line(
            "full rebuild ≥ 15,000 messages/s",
            _fmt(rate, "messages/s"),
            None if rate is None else rate >= 15_000,
        )
    )
    medians = {s: get(f"search.inproc.{s}") for s in SEARCH_SERIES}
    p95s = {s: get(f"search.inproc.{s}", "p95") for s in SEARCH_SERIES}
    worst50 = max(((v, s) for s, v in medians.items() if v is not None), default=None)
    worst95 = max(((v, s) for s, v in p95s.items() if v is not None), default=None)
    over50 = [s for s, v in medians.items() if v is not None and v > 2]
    over95 = [s for s, v in p95s.items() if v is not None and v > 10]
    out.append(
        line(
            "search p50 ≤ 2 ms in-process (every series)",
            "—"
            if worst50 is None
            else f"worst {worst50[0]:.2f} ms ({worst50[1]})"
            + (f"; over: {', '.join(over50)}" if over50 else ""),
            None if worst50 is None else not over50,
        )
    )
    out.append(
        line(
            "search p95 ≤ 10 ms in-process (every series)",
            "—"
            if worst95 is None
            else f"worst {worst95[0]:.2f} ms ({worst95[1]})"
            + (f"; over: {', '.join(over95)}" if over95 else ""),
            None if worst95 is None else not over95,
        )
    )
    for name, label in (
        ("store.new_session", "store_message p50 ≤ 15 ms, new session"),
        ("store.long_session", "store_message p50 ≤ 15 ms, 5,000-message session"),
    ):
        value = get(name)
        out.append(line(label, _fmt(value, "ms"), None if value is None else value <= 15))
    small, long_ = get("store.small_session"), get("store.long_session")
    out.append(
        line(
            "append into a 5,000-message session as fast as into a small one (p50 within 25%)",
            "—"
            if not small or long_ is None
            else f"{long_:.2f} vs {small:.2f} ms (×{long_ / small:.2f})",
            None if not small or long_ is None else long_ <= 1.25 * small,
        )
    )
    value = get("watch.save_to_searchable", "p95")
    out.append(
        line(
            "editor save searchable within 300 ms (p95)",
            _fmt(value, "ms"),
            None if value is None else value <= 300,
        )
    )
    for name, label in (
        ("serve.tools_list", "serve answers tools/list within 1 s (p95), indexed vault"),
        ("serve.tools_list_cold", "serve answers tools/list within 1 s (p95), no index yet"),
    ):
        value = get(name, "p95")
        out.append(line(label, _fmt(value, "ms"), None if value is None else value <= 1000))
    value = get("memory.peak_rss_mb")
    worst = fig.get("memory.peak_rss_mb", {}).get("by_phase", {})
    where = max(worst, key=worst.get) if worst else ""
    out.append(
        line(
            "peak memory ≤ 300 MB",
            _fmt(value, "MB") + (f" ({where})" if where else ""),
            None if value is None else value <= 300,
        )
    )
    value = get("import.mb_per_s")
    out.append(line("imports ≥ 5 MB/s", _fmt(value, "MB/s"), None if value is None else value >= 5))
    value = get("capture.incremental_ms")
    out.append(
        line(
            "incremental capture ≤ 300 ms as a whole process",
            _fmt(value, "ms"),
            None if value is None else value <= 300,
        )
    )
    return out


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}"


def _ms(f: dict[str, Any] | None, stat: str = "median") -> str:
    if not f or f.get(stat) is None:
        return "—"
    v = float(f[stat])
    return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"


def markdown(data: dict[str, Any]) -> str:
    """The results as the markdown table docs/benchmarks.md shows."""
    meta, fig, ratios = data["meta"], data["figures"], data["ratios"]
    m = meta["machine"]
    lines = [
        f"## codearchitect benchmark — {meta['size']}",
        "",
        f"{meta['sessions']:,} sessions, {meta['messages']:,} messages, {meta['markdown_mb']} MB "
        f"of markdown (seed {meta['seed']}); {meta['date']}; {meta['seconds']:.0f} s in all.  ",
        f"Machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB RAM, {m['os']}, "
        f"Python {m['python']}, SQLite {m['sqlite']}, tantivy {m['tantivy']}, "
        f"{m['ripgrep'] or 'no ripgrep (Python scan)'}; commit {m['commit']}"
        f"{' (dirty)' if m['dirty'] else ''}.  ",
        "Times in ms (median / p95 over repeated runs); rates: median / p95-slowest run."
        + (
            f"  \nLoad average (1 min) after the phases: {meta['loadavg_1min_after_phases']['min']}"
            f"–{meta['loadavg_1min_after_phases']['max']} on {m['nproc']} cores."
            if meta.get("loadavg_1min_after_phases")
            else ""
        ),
        "",
        "### Indexing",
        "",
        "| figure | codearchitect | SQLite FTS5 | ratio |",
        "|---|---|---|---|",
    ]
    rb, fb = fig.get("rebuild.messages_per_s"), fig.get("fts5.build.messages_per_s")
    lines.append(
        f"| full rebuild, messages/s | {_ms(rb)} / {_ms(rb, 'p95')} | {_ms(fb)} | "
        f"{_ratio(ratios.get('rebuild', {}).get('fts5'))} |"
    )
    mbs = fig.get("rebuild.mb_per_s")
    lines.append(f"| full rebuild, MB/s | {_ms(mbs)} / {_ms(mbs, 'p95')} | | |")
    for name, label in (("reconcile.0_changed", "start-up reconcile, 0 changed files (ms)"),):
        f = fig.get(name)
        lines.append(f"| {label} | {_ms(f)} / {_ms(f, 'p95')} | | |")
    f = fig.get("reconcile.changed")
    changed = f.get("changed_files", "?") if f else "?"
    lines.append(
        f"| start-up reconcile, {changed} changed files (ms) | {_ms(f)} / {_ms(f, 'p95')} | | |"
    )
    di, df = fig.get("disk.index_ratio"), fig.get("disk.fts5_ratio")
    lines.append(
        f"| index size ÷ markdown size | {_ms(di)} ({di['index_mb'] if di else '?'} MB) | "
        f"{_ms(df)} ({df['fts5_mb'] if df else '?'} MB) | |"
    )
    if "import.mb_per_s" in fig:
        f = fig["import.mb_per_s"]
        lines.append(
            f"| import, MB/s of source ({', '.join(f['sources'])}) | {_ms(f)} / {_ms(f, 'p95')} | | |"
        )
    if "capture.incremental_ms" in fig:
        f = fig["capture.incremental_ms"]
        lines.append(
            f"| incremental `capture claude-code`, whole process (ms) | {_ms(f)} / {_ms(f, 'p95')} | | |"
        )
    lines += [
        "",
        "### Search (10 hits with snippets and the total count)",
        "",
        "| query / filter | in-process | FTS5 | × FTS5 | scan | × scan | MCP stdio | mean total |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for series in SEARCH_SERIES:
        ours = fig.get(f"search.inproc.{series}")
        fts = fig.get(f"search.fts5.{series}")
        scan = fig.get(f"search.scan.{series}")
        mcp = fig.get(f"search.mcp.{series}")
        r = ratios.get(f"search.{series}", {})
        lines.append(
            f"| {series} | {_ms(ours)} / {_ms(ours, 'p95')} | {_ms(fts)} / {_ms(fts, 'p95')} | "
            f"{_ratio(r.get('fts5'))} | {_ms(scan) if scan else ''} | "
            f"{_ratio(r.get('scan')) if scan else ''} | {_ms(mcp)} / {_ms(mcp, 'p95')} | "
            f"{ours.get('mean_total', '') if ours else ''} |"
        )
    lines += [
        "",
        "### Writes, watcher, start-up, memory",
        "",
        "| figure | median / p95 |",
        "|---|---|",
    ]
    for name, label in (
        ("store.new_session", "store_message into a new session (ms)"),
        ("store.small_session", "store_message into a small session (ms)"),
        ("store.long_session", "store_message into a 5,000-message session (ms)"),
        ("store.mcp", "store_message over MCP stdio (ms)"),
        ("store.first_after_start", "first store_message of a fresh process (ms)"),
        ("store.concurrent", "store_message, 4 writer processes at once (ms)"),
        ("store.concurrent_throughput", "4 writer processes, messages/s in all"),
        ("watch.save_to_searchable", "editor save → searchable (ms)"),
        ("serve.tools_list", "serve start → tools/list answered, indexed vault (ms)"),
        ("serve.tools_list_cold", "serve start → tools/list answered, no index yet (ms)"),
        ("memory.peak_rss_mb", "peak RSS of our processes (MB)"),
    ):
        f = fig.get(name)
        if name == "store.long_session" and f:
            label = label.replace("5,000", f"{f.get('session_messages', 0):,}")
        lines.append(f"| {label} | {_ms(f)} / {_ms(f, 'p95')} |")
    mem = fig.get("memory.peak_rss_mb", {}).get("by_phase", {})
    if mem:
        lines += [
            "",
            "Peak RSS (VmHWM) by process (MB): "
            + ", ".join(f"{k} {v:.0f}" for k, v in mem.items())
            + ".",
        ]
    split = fig.get("memory.peak_rss_mb", {}).get("end_split", {})
    big = {k: v for k, v in split.items() if k in mem and mem[k] >= 100}
    if big:
        lines += [
            "RSS at the end, anonymous + file-backed (mapped index files) (MB): "
            + ", ".join(f"{k} {v['anon']:.0f} + {v['file']:.0f}" for k, v in big.items())
            + "."
        ]
    lines += ["", "### Correctness", "", "| check | result |", "|---|---|"]
    for name, c in data["checks"].items():
        detail = f"{c['passed']}/{c['checked']} passed" if "checked" in c else ""
        lines.append(f"| {name} | {'ok' if c['ok'] else 'FAILED'} {detail} |")
    lines += ["", "### Budget (DESIGN.md)", "", "| budget | measured | |", "|---|---|---|"]
    for b in data["budgets"]:
        mark = {True: "met", False: "**not met**", None: "not measured"}[b["met"]]
        lines.append(f"| {b['budget']} | {b['measured']} | {mark} |")
    if data["errors"]:
        lines += ["", "Errors: " + "; ".join(data["errors"].values())]
    if data["missing_figures"]:
        lines += ["", "Missing figures: " + ", ".join(data["missing_figures"])]
    return "\n".join(lines) + "\n"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:g}×"
