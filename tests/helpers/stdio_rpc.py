"""Drive an MCP stdio server command by hand: raw JSON-RPC lines, every stdout line kept.

Used where the point is what the process writes on stdout (`make run`, the README's
commands): the SDK client would hide a stray non-protocol line."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ("Exchange", "exchange", "user_env")


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a person typing at a shell: this one, without what an enclosing
    `make` (as in `make test`) passes down to the commands it runs."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return {**env, **extra}


@dataclass
class Exchange:
    returncode: int
    stdout_lines: list[str]
    stderr: str
    responses: dict[int, dict[str, Any]] = field(default_factory=dict)

    def protocol_only(self) -> bool:
        """Every stdout line is a JSON-RPC 2.0 message."""
        for line in self.stdout_lines:
            try:
                message = json.loads(line)
            except ValueError:
                return False
            if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
                return False
        return True


def exchange(
    command: list[str],
    calls: list[tuple[str, dict[str, Any]]],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float = 90,
) -> Exchange:
    """initialize, then each (method, params) in turn, each answer awaited; then close stdin."""
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        return _drive(proc, calls, timeout)


def _drive(
    proc: subprocess.Popen[str], calls: list[tuple[str, dict[str, Any]]], timeout: float
) -> Exchange:
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    responses: dict[int, dict[str, Any]] = {}

    def send(message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()

    def await_answer(request_id: int) -> None:
        assert proc.stdout is not None
        while request_id not in responses:
            line = proc.stdout.readline()
            if not line:
                return
            lines.append(line.rstrip("\n"))
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and isinstance(message.get("id"), int):
                responses[message["id"]] = message

    try:
        init = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "tests", "version": "0"},
        }
        send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init})
        await_answer(0)
        if 0 in responses:
            send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            for n, (method, params) in enumerate(calls, start=1):
                send({"jsonrpc": "2.0", "id": n, "method": method, "params": params})
                await_answer(n)
        rest, err = proc.communicate(timeout=timeout)  # closes stdin: the server ends
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    lines.extend(x for x in rest.splitlines())
    return Exchange(proc.returncode, lines, err, responses)
