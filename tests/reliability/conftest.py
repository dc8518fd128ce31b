"""Shared helpers of the reliability suite: real `codearchitect serve` processes, a raw
JSON-RPC stdio driver, and the invariant every scenario ends on: index == parse(files)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from indexer import Indexer
from indexer.dump import expected_dump
from indexer.query import compile_query
from mcp_server.app import App
from mcp_server.server import build_server
from tests.helpers import polling, settings
from tests.helpers.servers import EXE, server_env
from vault import Vault

PROTOCOL = "2025-06-18"

FAST = settings.FAST


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def wait_until(
    check: Callable[[], bool], timeout: float = polling.PATIENCE, step: float = 0.05
) -> bool:
    """Poll `check` until it is true or the deadline passes (never assert on speed)."""
    return polling.wait_until(check, timeout, step)


@pytest.fixture
async def served(vault_root: Path) -> AsyncIterator[tuple[App, Client]]:
    """An in-memory MCP client on a server for the test's project."""
    app = App(vault_root)
    try:
        async with Client(build_server(app)) as client:
            yield app, client
    finally:
        app.close()


def temp_files(root: Path) -> list[Path]:
    """Vault temp files (`.~cam-*`) left anywhere under the project."""
    return [p for p in root.rglob("*") if p.name.startswith(".~cam-")]


def tree(folder: Path, skip: str | None = None) -> dict[str, bytes | str]:
    """Every path under `folder` with its bytes (files) or link target (links)."""
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if skip is not None and skip in p.parts:
            continue
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = "dir"
    return out


def mirror_keys(ix: Indexer) -> set[tuple[str, str]]:
    with ix.mirror.read() as conn:
        rows = conn.execute("SELECT session_id, id FROM messages").fetchall()
    return {(str(r[0]), str(r[1])) for r in rows}


def fulltext_keys(ix: Indexer) -> set[tuple[str, str]]:
    """Every (session, message) tantivy returns for a match-all query, in one search (pages
    of tied scores may come in a different order after a merge, so no paging)."""
    compiled = compile_query("-zzqqxxnothing", ix.fulltext.schema, ix.fulltext.analyzer)
    assert compiled.query is not None, "a lone exclusion compiles to match-all minus the word"
    hits = ix.fulltext.search(ix.mirror, compiled.query, [], limit=1_000_000, offset=0)
    keys = [(h.session_id, h.message_id) for h in hits.hits]
    assert len(keys) == hits.total
    assert len(keys) == len(set(keys)), "a message is in the full-text index twice"
    return set(keys)


def assert_index_equals_files(root: Path, *, reconcile: bool = True) -> None:
    """The invariant: after a reconcile, the mirror equals a fresh parse of the files and
    tantivy holds exactly the mirror's messages."""
    vault = Vault(root)
    with Indexer(vault, FAST) as ix:
        if reconcile:
            ix.reconcile()
        assert ix.dump() == expected_dump(vault)
        assert ix.flush(60), "the full-text index never caught up"
        assert fulltext_keys(ix) == mirror_keys(ix)


def rss_kb(pid: int) -> int:
    """Resident memory of a process in kB (psutil is not installed: /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RawServer:
    """`codearchitect serve` driven with raw JSON-RPC lines over its stdin/stdout.

    A reader thread collects responses by id, so a test can write anything to stdin
    (over-long lines, invalid UTF-8) and still wait for the answer to a given request.
    """

    def __init__(self, root: Path, log: Path, **env: str) -> None:
        self.log = open(log, "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [str(EXE), "serve", "--root", str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=server_env(**env),
        )
        self.pid = self.proc.pid
        self._responses: dict[Any, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._next = 1
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                message = {"id": "<garbage>", "raw": line}
            with self._cond:
                self._responses[message.get("id")] = message
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def send(self, message: dict[str, Any]) -> None:
        self.write((json.dumps(message) + "\n").encode())

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def new_id(self) -> int:
        self._next += 1
        return self._next

    def wait(self, request_id: Any, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while request_id not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise TimeoutError(f"no answer to request {request_id!r}")
                self._cond.wait(min(left, 0.5))
            return self._responses.pop(request_id)

    def request(self, method: str, params: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        rid = self.new_id()
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return self.wait(rid, timeout)

    def initialize(self, timeout: float = 60.0) -> None:
        answer = self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "reliability", "version": "0"},
            },
            timeout,
        )
        assert "result" in answer, answer
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def call(self, tool: str, args: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        """A tool's structured result (`success` tells ok from error); a result that is a
        text only (get_context's transcript) as `{"success": True, "text": …}`."""
        answer = self.request("tools/call", {"name": tool, "arguments": args}, timeout)
        assert "result" in answer, answer
        result = answer["result"]
        if "structuredContent" not in result:
            assert not result.get("isError") and tool == "get_context", answer
            return {"success": True, "text": result["content"][0]["text"]}
        return dict(result["structuredContent"])

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._close_pipes()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self.log.closed:
            return
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._reader.join(10)
        self.log.close()


@pytest.fixture
def raw_servers(tmp_path: Path) -> Iterator[Callable[..., RawServer]]:
    """Start RawServers; every one still running at the end is stopped."""
    started: list[RawServer] = []

    def start(root: Path, **env: str) -> RawServer:
        server = RawServer(root, tmp_path / f"server-{len(started)}.log", **env)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.kill()
