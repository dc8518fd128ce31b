"""The benchmark: `python -m bench.run --size quick|reference` (make bench-quick / make bench).

Generates (or reuses, from bench/.cache) the seeded vault, copies it to a scratch root, runs
each phase in its own process (bench/phases.py), checks search results against the planted
terms, and writes bench/results/<size>.json and <size>.md; the table is also printed.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .edit import hand_edit
from .generate import ensure_vault, write_long_session
from .report import assemble, machine, markdown

__all__ = ("SIZES", "Size", "main")

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Size:
    """How big the vault is and how many times each figure is measured."""

    sessions: int
    messages: int
    planted: int = 200
    rebuild: int = 3
    reconcile: int = 5
    search: int = 100
    fts5_search: int = 50
    mcp_search: int = 30
    scan: int = 3
    store: int = 100
    writers: int = 4
    writer_repeats: int = 50
    watch: int = 20
    serve: int = 5
    serve_cold: int = 3
    imports: int = 3
    long_session: int = 5000
    changed_files: int = 100
    mcp_check_terms: int = 20
    mcp_check_pairs: int = 10


SIZES: dict[str, Size] = {
    "tiny": Size(
        sessions=20,
        messages=10,
        planted=12,
        rebuild=1,
        reconcile=1,
        search=2,
        fts5_search=2,
        mcp_search=2,
        scan=2,
        store=3,
        writer_repeats=3,
        watch=2,
        serve=0,  # the MCP phase's own start is the one sample
        serve_cold=1,
        imports=1,
        long_session=300,
        changed_files=3,
        mcp_check_terms=4,
        mcp_check_pairs=2,
    ),
    "quick": Size(sessions=1_000, messages=40),
    "reference": Size(
        sessions=10_000,
        messages=40,
        search=200,
        mcp_search=50,
        scan=3,
        store=200,
        writer_repeats=100,
        watch=30,
    ),
}


class PhaseFailed(Exception):
    pass


class Runner:
    def __init__(self, root: Path, manifest: Path, timeout: float) -> None:
        self.root = root
        self.manifest = manifest
        self.timeout = timeout
        self.raw: dict[str, list[dict[str, Any]]] = {}
        self.errors: dict[str, str] = {}

    def phase(self, name: str, key: str | None = None, **params: Any) -> dict[str, Any] | None:
        """Run one phase in a fresh process; its result is kept under `key` (default: name)."""
        key = key or name
        cmd = [
            sys.executable,
            "-m",
            "bench.phases",
            name,
            "--root",
            str(self.root),
            "--manifest",
            str(self.manifest),
            "--params",
            json.dumps(params),
        ]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, cwd=REPO, stdout=subprocess.PIPE, text=True, timeout=self.timeout, check=False
            )
            if proc.returncode != 0:
                raise PhaseFailed(f"exit status {proc.returncode}")
            result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (PhaseFailed, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            self.errors[key] = f"{name}: {type(exc).__name__}: {exc}"
            print(f"  ! {key} failed: {exc}", file=sys.stderr, flush=True)
            return None
        result["wall_seconds"] = round(time.monotonic() - started, 3)
        result["loadavg_1min"] = os.getloadavg()[0]
        self.raw.setdefault(key, []).append(result)
        return result

    def writers(self, count: int, repeats: int) -> None:
        """`count` writer processes appending at once (each to its own session)."""
        procs = []
        for n in range(count):
            params = {"session": f"bench-conc-{n}", "repeats": repeats, "n": n}
            cmd = [sys.executable, "-m", "bench.phases", "writer", "--root", str(self.root)]
            cmd += ["--params", json.dumps(params)]
            procs.append(
                subprocess.Popen(
                    cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            )
        try:
            for p in procs:
                assert p.stdout is not None
                json.loads(p.stdout.readline())  # ready
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            for p in procs:
                out, _ = p.communicate(timeout=self.timeout)
                if p.returncode != 0:
                    raise PhaseFailed(f"a writer exited with {p.returncode}")
                self.raw.setdefault("writers", []).append(json.loads(out.strip().splitlines()[-1]))
        except (PhaseFailed, subprocess.TimeoutExpired, ValueError, AssertionError) as exc:
            self.errors["writers"] = f"writers: {type(exc).__name__}: {exc}"
            for p in procs:
                p.kill()


def step(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(size_name: str, cache: Path, results: Path | None, seed: int, keep: bool) -> dict[str, Any]:
    size = SIZES[size_name]
    began = time.time()
    step(f"size {size_name}: {size.sessions} sessions x ~{size.messages} messages, seed {seed}")
    source = ensure_vault(cache, size.sessions, size.messages, seed, size.planted)
    manifest_path = source / "planted.json"
    manifest = json.loads(manifest_path.read_text())
    step(f"vault {source.name}: {manifest['messages']} messages, {manifest['bytes'] / 1e6:.1f} MB")
    work = cache / f"work-{size_name}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source / ".codearchitect", work / ".codearchitect")
    fts_db = cache / f"work-{size_name}-fts5.sqlite3"
    r = Runner(work, manifest_path, timeout=3600)
    everything: dict[str, Any] = {"check_terms": 10**9, "check_pairs": 10**9}

    step("baseline: FTS5 build over the same files")
    r.phase("fts5_build", db=str(fts_db))
    step(f"serve start with no index ({size.serve_cold}x)")
    r.phase("serve", "serve_cold", repeats=size.serve_cold, cold=True)
    step(f"full rebuild ({size.rebuild}x)")
    for _ in range(size.rebuild):
        r.phase("rebuild")
    index_bytes = _tree_size(work / ".codearchitect" / "index")
    step(f"search in-process ({size.search} calls per series) and planted-term checks")
    r.phase("search", repeats=size.search, **everything)
    step(f"baseline: FTS5 search ({size.fts5_search} calls per series)")
    r.phase("fts5_search", db=str(fts_db), repeats=size.fts5_search, **everything)
    step(f"baseline: unindexed scan ({size.scan} calls per series)")
    r.phase("scan", repeats=size.scan, check_terms=10, check_pairs=4)
    step(f"start-up reconcile, 0 and {size.changed_files} changed files ({size.reconcile}x)")
    paths = sorted((work / ".codearchitect" / "sessions").glob("*/session-*.md"))
    for _ in range(size.reconcile):
        r.phase("reconcile", "reconcile_0")
    for rep in range(size.reconcile):
        tokens = []
        for i in range(size.changed_files):
            token = f"benchrec{rep:02d}x{i:04d}"
            hand_edit(paths[(rep * size.changed_files + i) % len(paths)], token)
            tokens.append(token)
        time.sleep(0.1)  # past the racy window, as a real restart would be
        r.phase("reconcile", "reconcile_changed", tokens=tokens[:: max(1, len(tokens) // 10)])
    if size.serve:
        step(f"serve start → tools/list ({size.serve}x)")
        r.phase("serve", "serve_warm", repeats=size.serve)
    step(f"search and store over MCP ({size.mcp_search} calls per series)")
    r.phase(
        "mcp",
        repeats=size.mcp_search,
        store_repeats=max(2, size.store // 2),
        check_terms=size.mcp_check_terms,
        check_pairs=size.mcp_check_pairs,
    )
    step(f"store_message in-process ({size.store}x per kind)")
    write_long_session(work, "bench-long", size.long_session, seed)
    r.phase("store", repeats=size.store, long_session="bench-long")
    step(f"first store_message of a fresh process ({size.reconcile}x)")
    for rep in range(size.reconcile):
        r.phase("first_store", session=f"bench-{(rep * 1237) % size.sessions:06d}")
    step(f"{size.writers} concurrent writer processes ({size.writer_repeats} each)")
    r.writers(size.writers, size.writer_repeats)
    step(f"editor save → searchable through the watcher ({size.watch}x)")
    r.phase("watch", repeats=size.watch)
    step("import throughput (if the importers exist)")
    r.phase("import", repeats=size.imports)

    data = assemble(
        size_name=size_name,
        size=asdict(size),
        manifest=manifest,
        raw=r.raw,
        errors=r.errors,
        index_bytes=index_bytes,
        seconds=time.time() - began,
        machine=machine(),
    )
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{fts_db}{suffix}").unlink(missing_ok=True)
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
        (results / f"{size_name}.json").write_text(json.dumps(data, indent=1) + "\n")
        (results / f"{size_name}.md").write_text(markdown(data))
    return data


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="codearchitect benchmark (docs/benchmarks.md)")
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--cache", type=Path, default=BENCH / ".cache")
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch vault")
    parser.add_argument(
        "--semantic",
        action="store_true",
        help="leave semantic search at its default (on where the model is installed)",
    )
    args = parser.parse_args(argv)
    if not args.semantic:
        # The figures here are the keyword index's and the write path's; with semantic on,
        # every process would embed the 400k-message vault in the background and these
        # figures would measure that competition for the 2 cores (bench.retrieval measures
        # semantic's own costs).
        os.environ["CODEARCHITECT_SEMANTIC"] = "off"
    data = run(args.size, args.cache, args.results, args.seed, args.keep)
    print(markdown(data))
    return 0 if data["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
