"""Serving MCP over stdio with a cap on the length of one request line.

The SDK reads stdin line by line with no limit, so one 200 MB line would be held in memory
whole. Here a line longer than the cap is drained in small chunks, never buffered, and
answered with a JSON-RPC error when its id can be read from its first bytes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncIterator
from typing import Any, BinaryIO

import anyio

__all__ = ("MAX_LINE_BYTES", "LimitedLines", "serve_stdio")

log = logging.getLogger("codearchitect.stdio")

MAX_LINE_BYTES = 16 * 1024 * 1024
_ID = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})')


class LimitedLines:
    """An async iterator of stdin lines that drops (and answers) over-long ones."""

    def __init__(self, raw: BinaryIO, limit: int = MAX_LINE_BYTES) -> None:
        self.raw = raw
        self.limit = limit
        self.rejected: list[Any] = []

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        while True:
            line = await anyio.to_thread.run_sync(self.raw.readline, self.limit + 1)
            if not line:
                raise StopAsyncIteration
            if len(line) > self.limit and not line.endswith(b"\n"):
                head = line[:4096]
                while True:
                    chunk = await anyio.to_thread.run_sync(self.raw.readline, 1 << 16)
                    if not chunk or chunk.endswith(b"\n"):
                        break
                log.warning("refused a request line over %d bytes", self.limit)
                refusal = _refusal(head, "codearchitect/oversize")
                if refusal is not None:
                    return refusal
                continue
            try:
                return line.decode("utf-8")
            except UnicodeDecodeError:
                # Never store a silently repaired text: refuse the request instead.
                log.warning("refused a request line that is not valid UTF-8")
                refusal = _refusal(line[:4096], "codearchitect/invalid-utf8")
                if refusal is not None:
                    return refusal


def _refusal(head: bytes, method: str) -> str | None:
    """A stand-in request the server answers with an error, when the id can be read."""
    match = _ID.search(head)
    if match is None:
        return None
    try:
        request_id = json.loads(match.group(1))
    except ValueError:
        return None
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method})


async def serve_stdio(server: Any, limit: int = MAX_LINE_BYTES) -> None:
    """Run an `MCPServer` over stdin/stdout with `LimitedLines` as its input."""
    from mcp.server.stdio import stdio_server

    low = server._lowlevel_server
    lines: Any = LimitedLines(sys.stdin.buffer, limit)  # any async iterator of lines will do
    async with stdio_server(stdin=lines) as (read, write):
        await low.run(read, write, low.create_initialization_options())
