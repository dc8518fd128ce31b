"""Serving MCP over stdio: every request line gets an answer, and none is held whole when
it is over the cap.

The SDK reads stdin line by line with no limit, so one 200 MB line would be held in memory
whole. Here a line longer than the cap is drained in small chunks, never buffered. A line
the SDK could not parse (invalid UTF-8, a lone surrogate such as `"\ud800"`, JSON nested
deeper than its parser's limit) would be dropped by the SDK without an answer, leaving the
client to its own timeout. Each such line is replaced by a stand-in request,
`codearchitect/refused`, whose handler answers with a JSON-RPC error (-32602) carrying the
documented failure envelope (`INVALID_INPUT`, the reason in `details`) under the request's
id, when the id can be read.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

import anyio
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    JSONRPCError,
    JSONRPCResponse,
    RequestParams,
    jsonrpc_message_adapter,
)

from .errors import error_envelope
from .handshake import MAX_LINE_BYTES

__all__ = ("MAX_LINE_BYTES", "REFUSED", "LimitedLines", "serve_stdio")

log = logging.getLogger("codearchitect.stdio")

REFUSED = "codearchitect/refused"
_ID = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})')
# Hints that a line may be one the SDK's parser refuses: a \uD800-\uDFFF escape (a
# surrogate, paired or not) or enough brackets to nest past its depth limit (200). Only
# such lines are parsed here before the SDK parses them.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_DEEP_HINT = 128

_REASONS = {
    "oversize": f"The request line is longer than {MAX_LINE_BYTES} bytes",
    "invalid-utf8": "The request is not valid UTF-8",
    "lone-surrogate": "A string holds an unpaired surrogate (e.g. \\ud800)",
    "too-deep": "The request's JSON is nested too deeply",
    "unparsable": "The request could not be parsed",
}


class Refusal(RequestParams):
    """The params of a stand-in request for a line that was refused."""

    reason: str


class LimitedLines:
    """An async iterator of stdin lines that drops (and answers) over-long ones; `pending`
    are lines already read from `raw` (by `serve`'s handshake prelude), taken first."""

    def __init__(
        self, raw: BinaryIO, limit: int = MAX_LINE_BYTES, pending: list[bytes] | None = None
    ) -> None:
        self.raw = raw
        self.limit = limit
        self.pending = list(pending or [])
        self.rejected: list[Any] = []

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        while True:
            if self.pending:
                line = self.pending.pop(0)
            else:
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
                refusal = _refusal(head, None, "oversize")
                if refusal is not None:
                    return refusal
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                # Never store a silently repaired text: refuse the request instead.
                log.warning("refused a request line that is not valid UTF-8")
                refusal = _refusal(line[:4096], None, "invalid-utf8")
                if refusal is not None:
                    return refusal
                continue
            reason = _unparsable(text)
            if reason is None:
                return text
            log.warning("refused a request line: %s", reason)
            refusal = _refusal(line[:4096], text, reason)
            if refusal is not None:
                return refusal


def _unparsable(text: str) -> str | None:
    """Why the SDK would drop this line unanswered, or None (the usual case, decided by
    two scans in C; only a line with a hint is parsed here)."""
    if not _SURROGATE.search(text) and text.count("[") + text.count("{") < _DEEP_HINT:
        return None
    try:
        jsonrpc_message_adapter.validate_json(text, by_name=False)
    except ValueError as exc:
        problem = str(exc)
        if "recursion limit" in problem:
            return "too-deep"
        if "surrogate" in problem or "hex escape" in problem:
            return "lone-surrogate"
        return "unparsable"
    return None


def _refusal(head: bytes, text: str | None, reason: str) -> str | None:
    """A stand-in request the server answers with an error, when the id can be read."""
    request_id: Any = None
    if text is not None:
        try:
            message = json.loads(text)  # accepts lone surrogates; nesting up to ~1000
        except (ValueError, RecursionError):
            message = None
        if isinstance(message, dict):
            request_id = message.get("id")
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        match = _ID.search(head)
        if match is None:
            return None
        try:
            request_id = json.loads(match.group(1))
        except ValueError:
            return None
    if isinstance(request_id, str):
        request_id = request_id.encode("utf-8", "replace").decode("utf-8")
    params = {"reason": reason}
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": REFUSED, "params": params})


async def _answer_refusal(ctx: Any, params: Refusal) -> Any:
    message = _REASONS.get(params.reason, _REASONS["unparsable"])
    envelope = error_envelope("INVALID_INPUT", message, params.reason)
    raise MCPError(code=INVALID_PARAMS, message=message, data=envelope)


class _Observed:
    """Lines passed through unchanged, each shown to `seen` first."""

    def __init__(self, lines: AsyncIterator[str], seen: Callable[[str], None]) -> None:
        self.lines = lines
        self.seen = seen

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        line = await self.lines.__anext__()
        self.seen(line)
        return line


class _Hiding:
    """The server's write stream, less its answer to the request with id `hidden` (one
    the handshake prelude answered already and replayed so that the SDK's state is the
    client's)."""

    def __init__(self, stream: Any, hidden: str | int) -> None:
        self.stream = stream
        self.hidden: str | int | None = hidden

    async def send(self, item: Any, /) -> None:
        message = getattr(item, "message", None)
        answer = message if isinstance(message, JSONRPCResponse | JSONRPCError) else None
        if answer is not None and self.hidden is not None and answer.id == self.hidden:
            self.hidden = None
            if isinstance(answer, JSONRPCError):
                log.warning("the replayed handshake request failed: %s", answer.error)
            return
        await self.stream.send(item)

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def __aenter__(self) -> _Hiding:
        await self.stream.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        result: bool | None = await self.stream.__aexit__(*exc)
        return result


async def serve_stdio(
    server: Any,
    limit: int = MAX_LINE_BYTES,
    seen: Callable[[str], None] | None = None,
    pending: list[bytes] | None = None,
    hidden: str | int | None = None,
) -> None:
    """Run an `MCPServer` over stdin/stdout with `LimitedLines` as its input; `seen` is
    shown each incoming line before the server reads it. `pending`: lines already read
    from stdin, served first; `hidden`: the id of a request among them whose answer was
    sent already (see handshake.py)."""
    from mcp.server.stdio import stdio_server

    low = server._lowlevel_server
    low.add_request_handler(REFUSED, Refusal, _answer_refusal)
    # any async iterator of lines will do
    lines: Any = LimitedLines(sys.stdin.buffer, limit, pending)
    if seen is not None:
        lines = _Observed(lines, seen)
    async with stdio_server(stdin=lines) as (read, write):
        out = write if hidden is None else _Hiding(write, hidden)
        await low.run(read, out, low.create_initialization_options())
