"""The benchmark's phases, each run in its own process so its peak memory is its own.

    python -m bench.phases PHASE --root VAULT_ROOT --manifest planted.json --params JSON

The last line on stdout is the phase's result as JSON (progress goes to stderr). Timers
start after imports, inside the process: they time the work, not Python's start-up, except
where start-up is the figure (`serve` start).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .queries import Check, Filters, Query, checks, run_checks, series
from .stats import peak_rss_mb, proc_peak_rss_mb, rss_now_mb, summarize

__all__ = ("main",)

PYTHON = sys.executable
EXE = str(Path(sys.executable).parent / "codearchitect")
Params = dict[str, Any]
Manifest = dict[str, Any]


def log(msg: str) -> None:
    print(f"  · {msg}", file=sys.stderr, flush=True)


def index_dir(root: Path) -> Path:
    return root / ".codearchitect" / "index"


def sample_sessions(manifest: Manifest, count: int = 50) -> list[str]:
    n = int(manifest["sessions"])
    return [f"bench-{(i * 7919) % n:06d}" for i in range(min(count, n))]


# ---------------------------------------------------------------------- indexing


def phase_rebuild(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """A full rebuild from no index at all: open, read every file, absorb into tantivy."""
    from indexer import Indexer

    shutil.rmtree(index_dir(root), ignore_errors=True)
    start = time.perf_counter()
    ix = Indexer(root).open()
    report = ix.rebuild()
    seconds = time.perf_counter() - start
    count = ix.count_messages()
    docs = ix.status().fulltext_documents
    ix.close()
    return {
        "seconds": seconds,
        "messages": count,
        "fulltext_documents": docs,
        "files": report.scanned,
        "complete": count == manifest["messages"] and docs == count,
    }


def phase_reconcile(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """What a process does when it opens a known vault: reconcile, then bring tantivy up
    to date; then (untimed) check that every edited token is searchable."""
    from indexer import Indexer

    start = time.perf_counter()
    ix = Indexer(root).open()
    report = ix.reconcile()
    ix.flush()
    seconds = time.perf_counter() - start
    missing = [t for t in params.get("tokens", []) if not ix.search(t, limit=1).hits]
    ix.close()
    return {
        "seconds": seconds,
        "scanned": report.scanned,
        "changed": report.added + report.updated + report.removed,
        "unchanged": report.unchanged,
        "tokens_missing": missing,
    }


# ---------------------------------------------------------------------- search


def _timed_series(
    engine: Callable[[Query, Filters, int], tuple[list[str], int]],
    todo: dict[str, list[tuple[Query, Filters]]],
    warmup: int = 10,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, calls in todo.items():
        for query, filters in calls[:warmup]:
            engine(query, filters, 10)
        times: list[float] = []
        totals: list[int] = []
        for query, filters in calls:
            start = time.perf_counter()
            _, total = engine(query, filters, 10)
            times.append((time.perf_counter() - start) * 1000)
            totals.append(total)
        out[name] = summarize(times, "ms", mean_total=round(sum(totals) / len(totals), 1))
    return out


def _check_list(manifest: Manifest, params: Params) -> list[Check]:
    return checks(manifest, params.get("check_terms", 10**9), params.get("check_pairs", 10**9))


def phase_search(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """codearchitect's search, in-process, on the committed index."""
    from indexer import Indexer

    ix = Indexer(root).open()

    def engine(query: Query, filters: Filters, limit: int) -> tuple[list[str], int]:
        result = ix.search(
            query.ours(),
            session_id=filters.session_id,
            role=filters.role,
            after=filters.after,
            before=filters.before,
            limit=limit,
        )
        return [h.message_id for h in result.hits], result.total

    todo = series(manifest, params["repeats"], sample_sessions(manifest))
    figures = _timed_series(engine, todo)
    verified = run_checks(engine, _check_list(manifest, params))

    def natural(query: Query, filters: Filters, limit: int) -> tuple[list[str], int]:
        result = ix.search(query.natural(), limit=limit)
        return [h.message_id for h in result.hits], result.total

    # The same words typed plainly: ranked, stemmed, titles too (no figure targets these).
    plain = {f"natural-{k}": v for k, v in todo.items() if k.endswith("/none")}
    figures.update(_timed_series(natural, plain))
    ix.close()
    return {"series": figures, "checks": verified}


def phase_fts5_build(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    from vault import Vault

    from .baselines import Fts5

    fts = Fts5(Path(params["db"]))
    start = time.perf_counter()
    count = fts.build(Vault(root))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "messages": count, "bytes": fts.size()}


def phase_fts5_search(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    from .baselines import Fts5

    fts = Fts5(Path(params["db"])).open()
    todo = series(manifest, params["repeats"], sample_sessions(manifest))
    figures = _timed_series(fts.search, todo)
    verified = run_checks(fts.search, _check_list(manifest, params))
    fts.close()
    return {"series": figures, "checks": verified}


def phase_scan(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    from vault import Vault

    from .baselines import Scan

    scan = Scan(Vault(root))
    todo = {
        name: calls
        for name, calls in series(manifest, params["repeats"], sample_sessions(manifest)).items()
        if name.endswith("/none")
    }
    figures = _timed_series(scan.search, todo, warmup=1)
    verified = run_checks(scan.search, _check_list(manifest, params))
    return {"series": figures, "checks": verified, "tool": scan.tool}


# ---------------------------------------------------------------------- writes


def _wait_reconciled(ix: Any, since_ns: int, timeout: float = 600) -> None:
    """Wait for the started indexer's first reconcile (it runs in the background)."""
    from indexer.mirror import get_state

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ix.mirror.read() as conn:
            if int(get_state(conn, "last_reconcile_ns") or 0) > since_ns:
                return
        time.sleep(0.05)
    raise TimeoutError("the start-up reconcile did not finish")


def _texts(ix: Any, count: int = 40) -> list[str]:
    """Realistic message texts: the vault's own first session."""
    return [m.content[:1500] for m in ix.get_messages("bench-000000", limit=count)] or ["hello"]


def phase_store(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """`Indexer.append_message` (the body of the store_message tool) on a started indexer,
    as in a server: into a new session each time, into a small session, into a session of
    5,000 messages. Each stored message is then (untimed) searched for: it must be found."""
    from indexer import Indexer

    since = time.time_ns()
    ix = Indexer(root).start()
    _wait_reconciled(ix, since)
    texts = _texts(ix)
    small = "bench-store-small"
    ix.append_message(small, "user", "the first message of a small session")
    long_id = params["long_session"]
    long_count = ix.count_messages(long_id)
    times: dict[str, list[float]] = {"new": [], "small": [], "long": []}
    invisible: list[str] = []
    for i in range(params["repeats"]):
        for kind, sid in (("new", None), ("small", small), ("long", long_id)):
            token = f"benchstore{kind}{i:05d}"
            content = f"{texts[i % len(texts)]} {token}"
            start = time.perf_counter()
            appended = ix.append_message(sid, ("user", "assistant")[i % 2], content)
            times[kind].append((time.perf_counter() - start) * 1000)
            hits = ix.search(token, limit=5).hits
            if [h.message_id for h in hits] != [appended.message.id]:
                invisible.append(token)
    ix.close()
    return {
        "series": {k: summarize(v) for k, v in times.items()},
        "long_session_messages": long_count,
        "not_visible": invisible[:10],
        "visible_ok": not invisible,
    }


def phase_first_store(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """The first store_message of a fresh process (what the first tool call after `serve`
    starts pays): open the index, then time one append into an existing session."""
    from indexer import Indexer

    ix = Indexer(root).open()
    start = time.perf_counter()
    ix.append_message(params["session"], "user", "the first message after a start")
    first = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    ix.append_message(params["session"], "user", "the second message after a start")
    second = (time.perf_counter() - start) * 1000
    ix.close()
    return {"first_ms": first, "second_ms": second}


def phase_writer(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """One of several concurrent writer processes (each a started indexer, as each AI
    client runs its own server): waits for "go" on stdin, then appends."""
    from indexer import Indexer

    since = time.time_ns()
    ix = Indexer(root).start()
    if ix.is_leader:
        _wait_reconciled(ix, since)
    texts = _texts(ix)
    sid = params["session"]
    ix.append_message(sid, "user", "start")
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    times: list[float] = []
    began = time.time()
    for i in range(params["repeats"]):
        start = time.perf_counter()
        ix.append_message(sid, "user", f"{texts[i % len(texts)]} benchconc{params['n']}x{i}")
        times.append((time.perf_counter() - start) * 1000)
    ended = time.time()
    count = ix.count_messages(sid)
    leader = ix.is_leader
    ix.close()
    return {"times": times, "began": began, "ended": ended, "count": count, "leader": leader}


def phase_leader(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """A started indexer (the watcher's process) that runs until stdin closes."""
    from indexer import Indexer

    since = time.time_ns()
    ix = Indexer(root).start()
    _wait_reconciled(ix, since)
    print(json.dumps({"ready": True, "leader": ix.is_leader}), flush=True)
    sys.stdin.read()
    ix.close()
    return {}


def phase_watch(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """Editor save → searchable: a leader process watches the vault; this process saves a
    file as an editor does (temp + rename) and searches until the new word is found."""
    from indexer import Indexer

    from .edit import hand_edit

    leader = subprocess.Popen(
        [PYTHON, "-m", "bench.phases", "leader", "--root", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert leader.stdin is not None and leader.stdout is not None
    json.loads(leader.stdout.readline())
    ix = Indexer(root).open()
    paths = sorted((root / ".codearchitect" / "sessions").glob("*/session-*.md"))
    step = max(1, len(paths) // max(1, params["repeats"]))
    times: list[float] = []
    missed: list[str] = []
    for i in range(params["repeats"]):
        path = paths[(i * step + 3) % len(paths)]
        token = f"benchsave{i:05d}"
        hand_edit(path, token)
        start = time.perf_counter()
        deadline = start + 10
        while True:
            if ix.search(token, limit=1).hits:
                times.append((time.perf_counter() - start) * 1000)
                break
            if time.perf_counter() > deadline:
                missed.append(token)
                break
            time.sleep(0.002)
        time.sleep(0.3)  # one save at a time, as a person saves
    ix.close()
    leader.stdin.close()
    out = json.loads(leader.stdout.read().strip().splitlines()[-1])
    leader.wait()
    return {"series": summarize(times), "missed": missed, "leader_peak_rss_mb": out["peak_rss_mb"]}


# ---------------------------------------------------------------------- MCP


def server_params(root: Path) -> Any:
    """How an MCP client starts `codearchitect serve` on `root` (stdio): a minimal env, and
    this process's CODEARCHITECT_* settings so that both sides use the same model."""
    from mcp import StdioServerParameters

    keep = ("PATH", "HOME", "XDG_CONFIG_HOME", "LANG")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("CODEARCHITECT_")}
    return StdioServerParameters(command=EXE, args=["serve", "--root", str(root)], env=env)


def _children() -> list[int]:
    """Live child processes of this process (the server the MCP client spawned)."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(entry.name))
    return found


def _server_peak() -> float | None:
    peaks = [p for p in (proc_peak_rss_mb(pid) for pid in _children()) if p is not None]
    return max(peaks) if peaks else None


def _server_rss() -> dict[str, float]:
    kids = _children()
    return rss_now_mb(kids[0]) if kids else {}


async def _serve_start(root: Path, repeats: int, cold: bool) -> dict[str, Any]:
    from mcp import Client

    times: list[float] = []
    peaks: list[float] = []
    for _ in range(repeats):
        if cold:
            shutil.rmtree(index_dir(root), ignore_errors=True)
        start = time.perf_counter()
        async with Client(server_params(root), cache=None) as client:
            tools = await client.list_tools()
            times.append((time.perf_counter() - start) * 1000)
            assert any(t.name == "search_messages" for t in tools.tools)
            peak = _server_peak()
            if peak is not None:
                peaks.append(peak)
    return {"series": summarize(times), "server_peak_rss_mb": max(peaks, default=None)}


def phase_serve(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """`codearchitect serve` started → tools/list answered, through the SDK's stdio client
    (`cold`: with no index at all, so the whole vault is indexed in the background)."""
    import anyio

    return anyio.run(_serve_start, root, params["repeats"], bool(params.get("cold")))


async def _mcp(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    from mcp import Client

    start = time.perf_counter()
    async with Client(server_params(root), cache=None) as client:
        await client.list_tools()
        start_ms = (time.perf_counter() - start) * 1000

        async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
            result = await client.call_tool(name, args)
            data = result.structured_content
            if result.is_error or not isinstance(data, dict):
                raise RuntimeError(f"{name} failed: {data}")
            return data

        deadline = time.monotonic() + 600
        while (await call("index_status", {})).get("last_reconcile") is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the server's start-up reconcile did not finish")
            await anyio_sleep(0.1)

        async def engine(query: Query, filters: Filters, limit: int) -> tuple[list[str], int]:
            args: dict[str, Any] = {"query": query.ours(), "limit": limit}
            for key, value in (
                ("session", filters.session_id),
                ("role", filters.role),
                ("after", filters.after),
                ("before", filters.before),
            ):
                if value is not None:
                    args[key] = value
            data = await call("search_messages", args)
            return [h["message_id"] for h in data["hits"]], int(data["total"])

        await _settle(call)
        todo = series(manifest, params["repeats"], sample_sessions(manifest))
        for calls in todo.values():  # warm every series before timing any
            for query, filters in calls[:5]:
                await engine(query, filters, 10)
        figures: dict[str, Any] = {}
        for name, calls in todo.items():
            times = []
            for query, filters in calls:
                start = time.perf_counter()
                await engine(query, filters, 10)
                times.append((time.perf_counter() - start) * 1000)
            figures[name] = summarize(times)
        failures: list[dict[str, Any]] = []
        todo_checks = _check_list(manifest, params)
        for check in todo_checks:
            ids, total = await engine(check.query, check.filters, 50)
            if set(ids) != check.expected or total != len(check.expected):
                failures.append({"check": check.label, "got": ids, "total": total})
        store: list[float] = []
        invisible = 0
        for i in range(params["store_repeats"]):
            token = f"benchmcpstore{i:05d}"
            args = {"content": f"stored over MCP {token}", "role": "user", "session": "bench-mcp"}
            start = time.perf_counter()
            await call("store_message", args)
            store.append((time.perf_counter() - start) * 1000)
            found = await call("search_messages", {"query": token})
            invisible += not found["hits"]
        peak = _server_peak()
        rss_end = _server_rss()
    return {
        "start_ms": start_ms,
        "server_rss_end_mb": rss_end,
        "series": figures,
        "store": summarize(store),
        "store_visible_ok": invisible == 0,
        "checks": {
            "checked": len(todo_checks),
            "passed": len(todo_checks) - len(failures),
            "failed": len(failures),
            "ok": not failures and bool(todo_checks),
            "failures": failures[:10],
        },
        "server_peak_rss_mb": peak,
    }


async def _settle(call: Any, timeout: float = 600) -> None:
    """Let a server finish its start-up work (index catch-up, the first searcher's load)
    before anything is timed: the full-text queue empty, then a quiet second."""
    deadline = time.monotonic() + timeout
    while (await call("index_status", {})).get("fulltext_pending", 0):
        if time.monotonic() > deadline:
            raise TimeoutError("the server's full-text queue did not drain")
        await anyio_sleep(0.1)
    await anyio_sleep(1.0)


async def anyio_sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


def phase_mcp(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """search_messages and store_message through a real MCP stdio client."""
    import anyio

    return anyio.run(_mcp, root, manifest, params)


# ---------------------------------------------------------------------- import (optional)


def phase_import(root: Path, manifest: Manifest, params: Params) -> dict[str, Any]:
    """Import throughput of `vault.importers.run_import` over the shared real transcripts.

    HOOK: runs only when `vault.importers.runner` exists (the importers issue)."""
    import importlib.util

    if importlib.util.find_spec("vault.importers.runner") is None:
        return {"skipped": "vault.importers.runner is not there yet"}
    from vault import Vault
    from vault.importers.runner import run_import

    data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    sources: list[tuple[Any, list[Path]]] = [
        ("claude-code", [data / "claude_code" / "marot-spotter"]),
        ("claude-ai", [data / "claude_ai" / "yaleman-anthropic-data" / "conversations.json"]),
        ("chatgpt", [data / "chatgpt" / "realazthat-chatgpt2graph" / "conversations.json"]),
    ]
    sources = [(s, ps) for s, ps in sources if all(p.exists() for p in ps)]

    def size(path: Path) -> int:
        if path.is_file():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.rglob("*.jsonl"))

    total_bytes = sum(size(p) for _, ps in sources for p in ps)
    seconds: list[float] = []
    messages = 0
    errors: list[str] = []
    for r in range(params["repeats"]):
        target = root / f"import-{r}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        vault = Vault(target)
        start = time.perf_counter()
        messages = 0
        for source, paths in sources:
            try:
                messages += run_import(vault, source, paths, all_projects=False).messages_added
            except Exception as exc:
                errors.append(f"{source}: {type(exc).__name__}: {exc}")
        seconds.append(time.perf_counter() - start)
        shutil.rmtree(target, ignore_errors=True)
    capture_ms = _capture_runs(root, data, params["repeats"], errors)
    return {
        "capture_ms": capture_ms,
        "seconds": seconds,
        "bytes": total_bytes,
        "messages": messages,
        "sources": [s for s, _ in sources],
        "errors": errors[:5],
    }


PHASES: dict[str, Callable[[Path, Manifest, Params], dict[str, Any]]] = {
    "rebuild": phase_rebuild,
    "reconcile": phase_reconcile,
    "search": phase_search,
    "fts5_build": phase_fts5_build,
    "fts5_search": phase_fts5_search,
    "scan": phase_scan,
    "store": phase_store,
    "first_store": phase_first_store,
    "writer": phase_writer,
    "leader": phase_leader,
    "watch": phase_watch,
    "serve": phase_serve,
    "mcp": phase_mcp,
    "import": phase_import,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run one benchmark phase")
    parser.add_argument("phase", choices=sorted(PHASES))
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--params", default="{}")
    args = parser.parse_args()
    manifest = json.loads(args.manifest.read_text()) if args.manifest else {}
    result = PHASES[args.phase](args.root, manifest, json.loads(args.params))
    result["peak_rss_mb"] = peak_rss_mb()
    result["rss_end_mb"] = rss_now_mb()
    print(json.dumps(result), flush=True)


def _capture_runs(root: Path, data: Path, repeats: int, errors: list[str]) -> list[float]:
    """An incremental `codearchitect capture claude-code` as a whole process, as Claude
    Code runs it: a 3 MB transcript already captured grows by a few records, then the hook
    runs (interpreter start-up included). Milliseconds per run."""
    source = data / "claude_code" / "marot-spotter" / "4d5611e5-241a-462a-8d15-5122611a9569.jsonl"
    if not source.exists():
        return []
    exe = Path(sys.executable).parent / "codearchitect"
    lines = source.read_bytes().splitlines(keepends=True)
    project = root / "capture"
    shutil.rmtree(project, ignore_errors=True)
    (project / ".git").mkdir(parents=True)
    transcript = project / "transcript.jsonl"
    hook = json.dumps(
        {
            "session_id": "bench",
            "transcript_path": str(transcript),
            "cwd": str(project),
            "hook_event_name": "Stop",
        }
    )
    cut = len(lines) - 4 * max(1, repeats) - 4
    transcript.write_bytes(b"".join(lines[:cut]))
    subprocess.run([str(exe), "capture", "claude-code"], input=hook, text=True, check=False)
    times: list[float] = []
    for _ in range(max(1, repeats)):
        cut += 4
        transcript.write_bytes(b"".join(lines[:cut]))
        start = time.perf_counter()
        done = subprocess.run(
            [str(exe), "capture", "claude-code"],
            input=hook,
            text=True,
            check=False,
            capture_output=True,
        )
        times.append((time.perf_counter() - start) * 1000)
        if done.returncode != 0 or done.stdout:
            errors.append(f"capture: exit {done.returncode}, stdout {done.stdout[:80]!r}")
    log = project / ".codearchitect" / "capture.log"
    if log.exists() and log.read_text().strip():
        errors.append(f"capture.log: {log.read_text()[:200]}")
    shutil.rmtree(project, ignore_errors=True)
    return times


if __name__ == "__main__":
    main()
