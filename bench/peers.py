"""Peer comparison in one run on the same files: codearchitect and Basic Memory.
`make bench-peers` / `python -m bench.peers`.

Both systems get a copy of the same generated session files (bench/generate.py) and are
measured the same way, one after the other, on this machine:

- first index: `codearchitect reindex` and `bm project add … --default` (0.24.1 indexes
  inside `project add`, which exits 1 when a single file hits `database is locked`: the
  exit is accepted and the indexed/failed file counts are recorded), whole processes;
- search in-process (ours: `Indexer.search`; Basic Memory: its `search_notes` tool function
  called in its own Python), through the whole CLI (`codearchitect search --json`,
  `bm tool search-notes QUERY --json`) and over MCP (a stdio client, after the server has
  settled: its start-up work is not timed);
- write and append over MCP (`store_session`/`store_message`; `write_note`/`edit_note`
  append), and whether the text is on disk when the call returns;
- an editor's save (temp + rename) → the new word found over MCP;
- spawn → first search result over MCP (a new server process each time);
- peak RSS (VmHWM) of the indexing process and of the MCP server.

Basic Memory needs Python ≥ 3.12: it is installed into bench/.cache/peers-venv, never into
our venv, and always run with a private HOME (no user configuration read or written), its
update check and promos off (`auto_update: false`, `BASIC_MEMORY_NO_PROMOS=1`, and its MCP
SDK's: `FASTMCP_CHECK_FOR_UPDATES=off`, `FASTMCP_SHOW_SERVER_BANNER=false`), and its
semantic search off: a stub `sqlite_vec` that cannot be imported is first on its
PYTHONPATH, which is Basic Memory's own keyword-only mode for hosts without sqlite-vec, so
no embedding model is downloaded and both sides are keyword search. Its errors print on
stdout, so a failed step reports stdout and stderr. A step that fails is recorded in
bench/results/peers.json; the run itself never fails.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .edit import hand_edit
from .generate import ensure_vault
from .stats import proc_peak_rss_mb, summarize

BENCH = Path(__file__).resolve().parent
VERSION = "0.24.1"
QUERIES = ("python function", "zqplant0003")
OURS = str(Path(sys.executable).parent / "codearchitect")

__all__ = ("main", "peers")


def find_python(explicit: str | None) -> str | None:
    """A Python ≥ 3.12: the one given, one on PATH, or one pyenv installed."""
    candidates = [explicit] if explicit else []
    candidates += [p for n in ("python3.13", "python3.12") if (p := shutil.which(n))]
    candidates += sorted(
        glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python")), reverse=True
    )
    for c in candidates:
        if not c:
            continue
        out = subprocess.run(
            [c, "-c", "import sys; print(sys.version_info >= (3, 12))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.stdout.strip() == "True":
            return c
    return None


def timed(
    cmd: list[str], env: dict[str, str], *, ok: tuple[int, ...] = (0,), timeout: float = 3600
) -> tuple[float, str, float]:
    """(seconds, stdout + stderr, peak RSS in MB) of a whole process; RuntimeError with
    both streams if it exits with a code not in `ok`."""
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak, not the max so far
    finally:
        killer.cancel()
        proc.stdout.close()  # type: ignore[union-attr]
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok:
        raise RuntimeError(f"{Path(cmd[0]).name} {cmd[1]} exited {proc.returncode}: {out[-800:]}")
    return seconds, out, round(usage.ru_maxrss / 1024, 1)


def install(py: str, venv: Path) -> None:
    bm = venv / "bin" / "bm"
    if bm.exists():
        return
    subprocess.run([py, "-m", "venv", str(venv)], check=True, capture_output=True)
    proc = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"basic-memory=={VERSION}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR:")]
        raise RuntimeError(errors[-1] if errors else proc.stderr[-500:])


def peers(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "peer": f"basic-memory {VERSION}",
        "sessions": args.sessions,
        "messages_per_session": args.messages,
        "load_before": _load(),
    }
    py = find_python(args.python)
    if py is None:
        return out | {"skipped": "no Python ≥ 3.12 found (basic-memory requires it)"}
    venv = args.cache / "peers-venv"
    try:
        install(py, venv)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        return out | {"skipped": f"cannot install basic-memory {VERSION}: {exc}"}
    source = ensure_vault(args.cache, args.sessions, args.messages, args.seed)
    manifest = json.loads((source / "planted.json").read_text())
    out["corpus"] = {k: manifest[k] for k in ("sessions", "messages", "bytes")}
    work = args.cache / "peers-work"
    shutil.rmtree(work, ignore_errors=True)
    ours_root = work / "ours"
    (ours_root / ".git").mkdir(parents=True)
    shutil.copytree(
        source / ".codearchitect" / "sessions", ours_root / ".codearchitect" / "sessions"
    )
    notes = work / "notes"
    shutil.copytree(source / ".codearchitect" / "sessions", notes)
    ours_env = _ours_env(work / "home-ours")
    bm_env = _bm_env(work, venv)
    bm = str(venv / "bin" / "bm")
    results: dict[str, dict[str, Any]] = {"codearchitect": {}, "basic-memory": {}}
    for name, step in (
        ("first_index", _first_index),
        ("search_in_process", _search_in_process),
        ("search_cli", _search_cli),
        ("mcp", _mcp_all),
    ):
        for system in ("codearchitect", "basic-memory"):
            ctx = _Ctx(system, ours_root, notes, ours_env, bm_env, bm, venv, manifest, args)
            try:
                results[system][name] = step(ctx)
            except Exception as exc:  # a failed step is a result, not the end of the run
                results[system][name] = {"error": f"{type(exc).__name__}: {str(exc)[:800]}"}
            print(f"peers: {system} {name} done", file=sys.stderr)
    out["results"] = results
    out["ratios"] = ratios(results)
    out["load_after"] = _load()
    return out


class _Ctx:
    def __init__(self, system: str, ours_root: Path, notes: Path, ours_env: dict[str, str],
                 bm_env: dict[str, str], bm: str, venv: Path, manifest: dict[str, Any],
                 args: argparse.Namespace) -> None:  # fmt: skip
        self.system, self.ours_root, self.notes = system, ours_root, notes
        self.ours_env, self.bm_env, self.bm, self.venv = ours_env, bm_env, bm, venv
        self.manifest, self.args = manifest, args

    @property
    def ours(self) -> bool:
        return self.system == "codearchitect"

    @property
    def folder(self) -> Path:
        return self.ours_root / ".codearchitect" / "sessions" if self.ours else self.notes


def _ours_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "HOME": str(home),
            "CODEARCHITECT_SEMANTIC": "off"}  # fmt: skip


def _bm_env(work: Path, venv: Path) -> dict[str, str]:
    home = work / "home-bm"
    (home / ".basic-memory").mkdir(parents=True)
    (home / ".basic-memory" / "config.json").write_text(
        json.dumps({"auto_update": False, "cloud_promo_first_run_shown": True})
    )
    stub = work / "no-sqlite-vec"
    stub.mkdir()
    (stub / "sqlite_vec.py").write_text('raise ImportError("keyword-only comparison")\n')
    return {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "BASIC_MEMORY_NO_PROMOS": "1",
        "BASIC_MEMORY_AUTO_UPDATE": "false",
        "FASTMCP_CHECK_FOR_UPDATES": "off",
        "FASTMCP_SHOW_SERVER_BANNER": "false",
        "PYTHONPATH": str(stub),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }


# --------------------------------------------------------------------- first index


def _first_index(ctx: _Ctx) -> dict[str, Any]:
    messages = ctx.manifest["messages"]
    if ctx.ours:
        seconds, text, peak = timed([OURS, "reindex", "--root", str(ctx.ours_root)], ctx.ours_env)
        counts = {"files_indexed": ctx.manifest["sessions"], "files_failed": 0}
        assert "indexed" in text, text
    else:
        cmd = [ctx.bm, "project", "add", "bench", str(ctx.notes), "--default"]
        seconds, text, peak = timed(cmd, ctx.bm_env, ok=(0, 1))
        found = re.search(r"(\d+) observed, (\d+) indexed, (\d+) failed", text)
        counts = (
            {"files_indexed": int(found.group(2)), "files_failed": int(found.group(3))}
            if found
            else {"output": text[-600:]}
        )
        counts["database_is_locked"] = "database is locked" in text
    return {
        "seconds": round(seconds, 2),
        "messages_per_s": round(messages / seconds, 1),
        "peak_rss_mb": peak,
        **counts,
    }


# --------------------------------------------------------------------- search


_BM_IN_PROCESS = """
import asyncio, importlib, json, sys, time
s = importlib.import_module("basic_memory.mcp.tools.search")
fn = getattr(s.search_notes, "fn", s.search_notes)
queries, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
async def main():
    out = {}
    for q in queries:
        await fn(query=q, project="bench")
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            r = await fn(query=q, project="bench")
            times.append((time.perf_counter() - t) * 1000)
        out[q] = times
    return out
print(json.dumps(asyncio.run(main())))
"""


def _search_in_process(ctx: _Ctx) -> dict[str, Any]:
    repeats = ctx.args.repeats
    if ctx.ours:
        from indexer import Indexer

        old = os.environ.get("CODEARCHITECT_SEMANTIC")
        os.environ["CODEARCHITECT_SEMANTIC"] = "off"
        ix = Indexer(ctx.ours_root).open()
        try:
            times: dict[str, list[float]] = {}
            for q in QUERIES:
                ix.search(q, limit=10)
                times[q] = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    ix.search(q, limit=10)
                    times[q].append((time.perf_counter() - t) * 1000)
        finally:
            ix.close()
            if old is None:
                os.environ.pop("CODEARCHITECT_SEMANTIC", None)
    else:
        python = str(ctx.venv / "bin" / "python")
        _, text, _ = timed(
            [python, "-c", _BM_IN_PROCESS, json.dumps(list(QUERIES)), str(repeats)], ctx.bm_env
        )
        times = json.loads(text.strip().splitlines()[-1])
    return {q: summarize(v) for q, v in times.items()}


def _search_cli(ctx: _Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for q in QUERIES:
        if ctx.ours:
            cmd = [OURS, "search", q, "--root", str(ctx.ours_root), "--json"]
            env = ctx.ours_env
        else:
            cmd = [ctx.bm, "tool", "search-notes", q, "--json", "--project", "bench"]
            env = ctx.bm_env
        runs = [timed(cmd, env) for _ in range(ctx.args.cli_repeats)]
        total = json.loads(runs[-1][1][runs[-1][1].index("{") :]).get("total")
        out[q] = summarize([r[0] * 1000 for r in runs], "ms (whole CLI process)", total=total)
    return out


# --------------------------------------------------------------------- MCP


def _mcp_all(ctx: _Ctx) -> dict[str, Any]:
    import anyio

    return anyio.run(_mcp, ctx)


def _params(ctx: _Ctx) -> Any:
    from mcp import StdioServerParameters

    if ctx.ours:
        return StdioServerParameters(
            command=OURS, args=["serve", "--root", str(ctx.ours_root)], env=ctx.ours_env
        )
    return StdioServerParameters(
        command=ctx.bm, args=["mcp", "--transport", "stdio", "--project", "bench"], env=ctx.bm_env
    )


async def _mcp(ctx: _Ctx) -> dict[str, Any]:
    from mcp import Client

    out: dict[str, Any] = {}
    spawn: list[float] = []
    for _ in range(ctx.args.spawn_repeats):
        start = time.perf_counter()
        async with Client(_params(ctx), cache=None) as client:
            await _search(ctx, client, QUERIES[1])
            spawn.append((time.perf_counter() - start) * 1000)
    out["spawn_to_first_result"] = summarize(spawn)
    async with Client(_params(ctx), cache=None) as client:
        await _settle(ctx, client)
        for q in QUERIES:
            times = []
            for _ in range(ctx.args.repeats):
                t = time.perf_counter()
                await _search(ctx, client, q)
                times.append((time.perf_counter() - t) * 1000)
            out[f"search {q}"] = summarize(times)
        out["write"] = await _writes(ctx, client, append=False)
        out["append"] = await _writes(ctx, client, append=True)
        out["editor_save_to_searchable"] = await _saves(ctx, client)
        out["server_peak_rss_mb"] = _server_peak()
    return out


async def _call(client: Any, name: str, args: dict[str, Any]) -> Any:
    result = await client.call_tool(name, args)
    if result.is_error:
        text = " ".join(getattr(c, "text", "") for c in result.content)
        raise RuntimeError(f"{name}: {text[:400]}")
    if result.structured_content is not None:
        return result.structured_content
    return " ".join(getattr(c, "text", "") for c in result.content)


async def _search(ctx: _Ctx, client: Any, query: str) -> int:
    """The number of hits a search over MCP returned."""
    if ctx.ours:
        data = await _call(client, "search_messages", {"query": query, "limit": 10})
        return len(data["hits"])
    data = await _call(client, "search_notes", {"query": query, "project": "bench"})
    if isinstance(data, dict) and "result" in data and isinstance(data["result"], dict | str):
        data = data["result"]
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return 0 if "no results" in data.lower() else 1
    return len(data.get("results", [])) if isinstance(data, dict) else 0


async def _settle(ctx: _Ctx, client: Any) -> None:
    """Wait until the server's start-up work is done, then a quiet second."""
    import anyio

    if ctx.ours:
        deadline = time.monotonic() + 600
        while True:
            status = await _call(client, "index_status", {})
            if status.get("last_reconcile") and not status.get("fulltext_pending"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("codearchitect did not settle")
            await anyio.sleep(0.1)
    for q in QUERIES:
        for _ in range(3):
            await _search(ctx, client, q)
    await anyio.sleep(2.0)


async def _writes(ctx: _Ctx, client: Any, append: bool) -> dict[str, Any]:
    times: list[float] = []
    on_disk = 0
    n = ctx.args.write_repeats
    if append and not ctx.ours:
        await _call(client, "write_note", _bm_note("benchappend", "first line"))
    for i in range(n):
        token = f"benchpeer{'append' if append else 'write'}{i:04d}"
        if ctx.ours:
            name, args = (
                ("store_message", {"content": f"appended {token}", "role": "user",
                                   "session": "bench-append"})
                if append
                else ("store_session", {"conversation": f"User: note {token}\nAI: ok",
                                        "topic": f"bench write {i}"})
            )  # fmt: skip
        else:
            name, args = (
                ("edit_note", {"identifier": "benchappend", "operation": "append",
                               "content": f"\nappended {token}", "project": "bench"})
                if append
                else ("write_note", _bm_note(f"bench write {i}", f"note {token}"))
            )  # fmt: skip
        t = time.perf_counter()
        await _call(client, name, args)
        times.append((time.perf_counter() - t) * 1000)
        on_disk += _on_disk(ctx.folder, token)
    return summarize(times, text_on_disk_when_answered=f"{on_disk}/{n}")


def _bm_note(title: str, content: str) -> dict[str, Any]:
    return {"title": title, "content": content, "directory": "bench", "project": "bench"}


def _on_disk(folder: Path, token: str) -> int:
    data = token.encode()
    return int(any(data in p.read_bytes() for p in folder.rglob("*.md")))


async def _saves(ctx: _Ctx, client: Any) -> dict[str, Any]:
    import anyio

    paths = sorted(p for p in ctx.folder.rglob("*.md") if "bench" not in p.name)
    times: list[float] = []
    missed: list[str] = []
    for i in range(ctx.args.save_repeats):
        token = f"benchpeersave{i:04d}"
        hand_edit(paths[(i * 7 + 3) % len(paths)], token)
        start = time.perf_counter()
        while True:
            if await _search(ctx, client, token):
                times.append((time.perf_counter() - start) * 1000)
                break
            if time.perf_counter() - start > 60:
                missed.append(token)
                break
            await anyio.sleep(0.01)
        await anyio.sleep(0.5)
    return summarize(times, missed=missed)


def _server_peak() -> float | None:
    me = os.getpid()
    peaks = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            peak = proc_peak_rss_mb(entry.name)
            if peak is not None:
                peaks.append(peak)
    return max(peaks, default=None)


# --------------------------------------------------------------------- report


_FIGURES: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("first index (whole process)", lambda r: r["first_index"]["seconds"], "s"),
    ("first index throughput", lambda r: r["first_index"]["messages_per_s"], "msgs/s"),
    ("first index peak RSS", lambda r: r["first_index"]["peak_rss_mb"], "MB"),
    *(
        (f"search in-process `{q}` p50", (lambda r, q=q: r["search_in_process"][q]["median"]), "ms")
        for q in QUERIES
    ),
    *(
        (f"search whole CLI `{q}` p50", (lambda r, q=q: r["search_cli"][q]["median"]), "ms")
        for q in QUERIES
    ),
    *(
        (f"search over MCP `{q}` p50", (lambda r, q=q: r["mcp"][f"search {q}"]["median"]), "ms")
        for q in QUERIES
    ),
    ("write over MCP p50", lambda r: r["mcp"]["write"]["median"], "ms"),
    ("append over MCP p50", lambda r: r["mcp"]["append"]["median"], "ms"),
    (
        "editor save → searchable p50",
        lambda r: r["mcp"]["editor_save_to_searchable"]["median"],
        "ms",
    ),
    ("spawn → first result p50", lambda r: r["mcp"]["spawn_to_first_result"]["median"], "ms"),
    ("MCP server peak RSS", lambda r: r["mcp"]["server_peak_rss_mb"], "MB"),
]


def _get(fn: Callable[[dict[str, Any]], Any], r: dict[str, Any]) -> Any:
    try:
        return fn(r)
    except (KeyError, TypeError):
        return None


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Basic Memory ÷ codearchitect for each figure (throughput: ours ÷ theirs), so above 1
    means codearchitect does better."""
    out: dict[str, float | None] = {}
    for label, fn, unit in _FIGURES:
        ours, theirs = _get(fn, results["codearchitect"]), _get(fn, results["basic-memory"])
        if not ours or not theirs:
            out[label] = None
            continue
        out[label] = round(ours / theirs if unit == "msgs/s" else theirs / ours, 2)
    return out


def markdown(data: dict[str, Any]) -> str:
    if "skipped" in data:
        return f"# Peers\n\nSkipped: {data['skipped']}\n"
    r = data["results"]
    lines = [
        f"# Peers: codearchitect vs {data['peer']} ({data['date']})",
        "",
        f"Same run, same files: {data['corpus']['sessions']} sessions, "
        f"{data['corpus']['messages']:,} messages, {data['corpus']['bytes'] / 1e6:.1f} MB. "
        f"Load (1/5/15 min) before {data['load_before']}, after {data['load_after']}.",
        "",
        "| figure | codearchitect | Basic Memory | ratio (>1: codearchitect better) |",
        "|---|---|---|---|",
    ]
    for label, fn, unit in _FIGURES:
        ours, theirs = _get(fn, r["codearchitect"]), _get(fn, r["basic-memory"])
        ratio = data["ratios"].get(label)
        lines.append(
            f"| {label} | {_fmt(ours, unit)} | {_fmt(theirs, unit)} | "
            f"{'—' if ratio is None else f'{ratio:g}×'} |"
        )
    on_disk = [
        f"{name}: write {_get(lambda x: x['mcp']['write']['text_on_disk_when_answered'], r[name])}, "
        f"append {_get(lambda x: x['mcp']['append']['text_on_disk_when_answered'], r[name])}"
        for name in ("codearchitect", "basic-memory")
    ]
    lines += ["", "Text on disk when the MCP call returned: " + "; ".join(on_disk) + "."]
    bm_index = r["basic-memory"].get("first_index", {})
    if "files_indexed" in bm_index:
        lines.append(
            f"Basic Memory's first index: {bm_index['files_indexed']} files indexed, "
            f"{bm_index['files_failed']} failed"
            + (" (`database is locked`)" if bm_index.get("database_is_locked") else "")
            + "."
        )
    errors = [
        f"- {system} {step}: {value['error']}"
        for system, steps in r.items()
        for step, value in steps.items()
        if isinstance(value, dict) and "error" in value
    ]
    if errors:
        lines += ["", "Steps that failed:", *errors]
    return "\n".join(lines) + "\n"


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f} {unit}" if isinstance(value, float) else f"{value:,} {unit}"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=20, help="searches per query (timed)")
    parser.add_argument("--cli-repeats", type=int, default=3)
    parser.add_argument("--spawn-repeats", type=int, default=2)
    parser.add_argument("--write-repeats", type=int, default=5)
    parser.add_argument("--save-repeats", type=int, default=3)
    parser.add_argument("--python", help="a Python ≥ 3.12 to install basic-memory with")
    parser.add_argument("--cache", type=Path, default=BENCH / ".cache")
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    result = peers(args)
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "peers.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.results / "peers.md").write_text(markdown(result))
    print(markdown(result))
    if "skipped" in result:
        print(f"peers: skipped — {result['skipped'][:300]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
