"""Optional peer comparison: Basic Memory (PyPI `basic-memory`, semantic search off) indexing
and searching the same kind of session files. `make bench-peers` / `python -m bench.peers`.

Basic Memory needs Python ≥ 3.12 and brings its own dependency tree (fastmcp, sqlalchemy,
…), so it is installed into its own venv under bench/.cache/peers-venv, never into ours,
and driven through its command line with a private HOME, so no user configuration is read
or written. Every step that fails is reported in bench/results/peers.json as the reason
the comparison was skipped; the run itself never fails.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .generate import ensure_vault
from .stats import summarize

BENCH = Path(__file__).resolve().parent
VERSION = "0.24.1"  # the version DESIGN.md quotes figures for
QUERIES = ("function", "python function", "machine learning", "zqplant0003")


def find_python(explicit: str | None) -> str | None:
    """A Python ≥ 3.12: the one given, one on PATH, or one pyenv installed."""
    candidates = [explicit] if explicit else []
    candidates += [shutil.which(n) for n in ("python3.13", "python3.12")]
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


def run(cmd: list[str], env: dict[str, str], timeout: float = 3600) -> tuple[float, str]:
    """(seconds, output) of a command; raises RuntimeError with its output if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR:")]
        why = errors[-1] if errors else proc.stderr[-500:]
        raise RuntimeError(f"{Path(cmd[0]).name} {cmd[1]} exited {proc.returncode}: {why}")
    return seconds, proc.stdout


def peers(
    sessions: int, messages: int, seed: int, cache: Path, python: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"peer": f"basic-memory {VERSION}", "sessions": sessions}
    py = find_python(python)
    if py is None:
        return out | {"skipped": "no Python ≥ 3.12 found (basic-memory requires it)"}
    venv = cache / "peers-venv"
    bm = venv / "bin" / "basic-memory"
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    if not bm.exists():
        try:
            run([py, "-m", "venv", str(venv)], env)
            run(
                [str(venv / "bin" / "pip"), "install", "-q", f"basic-memory=={VERSION}"],
                dict(os.environ),
            )
        except RuntimeError as exc:
            shutil.rmtree(venv, ignore_errors=True)
            return out | {"skipped": f"cannot install basic-memory {VERSION}: {exc}"}
    source = ensure_vault(cache, sessions, messages, seed)
    manifest = json.loads((source / "planted.json").read_text())
    work = cache / "peers-work"
    shutil.rmtree(work, ignore_errors=True)
    notes = work / "notes"
    shutil.copytree(source / ".codearchitect" / "sessions", notes)
    home = work / "home"
    home.mkdir()
    env["HOME"] = str(home)
    try:
        run([str(bm), "project", "add", "bench", str(notes)], env)
        seconds, _ = run([str(bm), "reindex", "--project", "bench"], env)
        run([str(bm), "status", "--project", "bench", "--wait", "--timeout", "3600"], env)
        out["first_index"] = {
            "seconds": round(seconds, 2),
            "messages_per_s": round(manifest["messages"] / seconds, 1),
            "mb_per_s": round(manifest["bytes"] / 1e6 / seconds, 3),
        }
        for query in QUERIES:
            times = [
                run(
                    [str(bm), "tools", "search-notes", "--query", query, "--project", "bench"], env
                )[0]
                * 1000
                for _ in range(5)
            ]
            out[f"search {query}"] = summarize(times, "ms (whole CLI process)")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        out["skipped"] = f"basic-memory failed: {exc}"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--python", help="a Python ≥ 3.12 to install basic-memory with")
    parser.add_argument("--cache", type=Path, default=BENCH / ".cache")
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    result = peers(args.sessions, args.messages, args.seed, args.cache, args.python)
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "peers.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    if "skipped" in result:
        print(f"peers: skipped — {result['skipped'][:300]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
