"""Records `handshake.json` (see handshake.py) from the live server:

    python -m mcp_server.handshake_record                     # the shipped one
    python -m mcp_server.handshake_record --if-stale --out F  # make install, when needed

Each legacy protocol version's `initialize` and `tools/list`, and each 2026-07-28
version's `server/discover` and `tools/list`, are sent to a real `codearchitect serve`
process with the prelude off (CODEARCHITECT_HANDSHAKE=sdk), one process per version, and
its answers are written with the key they depend on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .handshake import OFF_ENV, SNAPSHOT, current_key, load_snapshot

__all__ = ("CLIENT_INFO", "exchange", "legacy_requests", "modern_requests", "record")

CLIENT_INFO = {"name": "codearchitect-handshake", "version": "1"}


def legacy_requests(version: str, client_info: dict[str, Any] = CLIENT_INFO) -> list[Any]:
    init = {"protocolVersion": version, "capabilities": {}, "clientInfo": client_info}
    return [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]


def modern_requests(
    version: str, client_info: dict[str, Any] = CLIENT_INFO, caps: dict[str, Any] | None = None
) -> list[Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": client_info,
        "io.modelcontextprotocol/clientCapabilities": caps or {},
    }
    return [
        {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}},
    ]


def exchange(
    requests: list[Any], root: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> list[str]:
    """Send `requests` to a new `codearchitect serve` on `root` one at a time, each request
    once the answer to the one before it came; the answers' lines, in order."""
    command = [sys.executable, "-m", "mcp_server.cli", "serve", "--root", str(root)]
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    base.update({OFF_ENV: "sdk", "CODEARCHITECT_SEMANTIC": "off"})
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**base, **(env or {})},
    )
    assert proc.stdin is not None and proc.stdout is not None
    answers = []
    try:
        for request in requests:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
            if "id" in request:
                answers.append(proc.stdout.readline().decode("utf-8"))
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return answers


def _results(requests: list[Any], root: Path) -> list[dict[str, Any]]:
    results = []
    for line in exchange(requests, root):
        answer = json.loads(line)
        if "result" not in answer:
            raise RuntimeError(f"the server refused a handshake request: {line}")
        results.append(answer["result"])
    return results


def record(root: Path) -> dict[str, Any]:
    """The recording: the live server's answers, and the key they were made under."""
    from mcp_types.version import (
        HANDSHAKE_PROTOCOL_VERSIONS,
        LATEST_HANDSHAKE_VERSION,
        MODERN_PROTOCOL_VERSIONS,
    )

    legacy = list(HANDSHAKE_PROTOCOL_VERSIONS)
    modern = list(MODERN_PROTOCOL_VERSIONS)
    batches = [legacy_requests(v) for v in legacy] + [modern_requests(v) for v in modern]
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(lambda batch: _results(batch, root), batches))
    tools: list[Any] = []  # each distinct tool list once; the results name it by index
    for results in done:
        for result in results:
            if "tools" in result:
                if result["tools"] not in tools:
                    tools.append(result["tools"])
                result["tools"] = tools.index(result["tools"])
    return {
        "key": current_key(),
        "tools": tools,
        "legacy": {
            "latest": LATEST_HANDSHAKE_VERSION,
            "initialize": {v: done[i][0] for i, v in enumerate(legacy)},
            "tools/list": {v: done[i][1] for i, v in enumerate(legacy)},
        },
        "modern": {
            "server/discover": {v: done[len(legacy) + i][0] for i, v in enumerate(modern)},
            "tools/list": {v: done[len(legacy) + i][1] for i, v in enumerate(modern)},
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mcp_server.handshake_record",
        description="Record the live server's handshake answers (mcp_server/handshake.py).",
    )
    parser.add_argument("--out", type=Path, default=SNAPSHOT, help="default: the shipped one")
    parser.add_argument(
        "--if-stale",
        action="store_true",
        help="only when no recording fits this code and the installed SDK (make install)",
    )
    args = parser.parse_args(argv)
    if args.if_stale and load_snapshot() is not None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = record(Path(tmp))
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text):,} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
