"""Tool results: the same JSON as `structuredContent` and as text (seed 003's text form)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mcp.types import CallToolResult, TextContent

from vault import VaultWarning

from .errors import error_payload

__all__ = ("ToolFailed", "fail", "ok", "run_tool", "text_only", "warning_fields")


class ToolFailed(Exception):
    """Carries a ready failure result out of a tool body."""

    def __init__(self, result: CallToolResult) -> None:
        super().__init__(result)
        self.result = result


def ok(payload: dict[str, Any]) -> CallToolResult:
    """A success: the payload as `structuredContent` and as compact JSON text."""
    data = {"success": True, **payload}
    try:
        text = _json(data)
    except ValueError:
        # A NaN or infinity read from a hand-edited file (the tools refuse them): spelled
        # as a string, so no result ever holds non-standard JSON and both forms agree.
        data = _finite(data)
        text = _json(data)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def text_only(text: str) -> CallToolResult:
    """A success that is a text for the model to read, and nothing else (get_context's
    transcript: the budget paid for exactly this text). No `structuredContent`: clients
    that find one hand the model its JSON instead of the text (Claude Code, VS Code)."""
    return CallToolResult(content=[TextContent(type="text", text=text)])


def fail(exc: BaseException) -> CallToolResult:
    data = error_payload(exc)
    return CallToolResult(
        content=[TextContent(type="text", text=_json(data))], structured_content=data, is_error=True
    )


def run_tool(body: Callable[[], dict[str, Any]]) -> CallToolResult:
    """Run a tool body; its dict becomes a success, any exception a mapped failure."""
    try:
        return ok(body())
    except Exception as exc:
        return fail(exc)


@contextmanager
def tool_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        raise ToolFailed(fail(exc)) from exc


def warning_fields(warnings: list[VaultWarning] | tuple[VaultWarning, ...]) -> dict[str, Any]:
    """Seed 003's single `warning` string plus the full list, when there are any."""
    if not warnings:
        return {}
    return {
        "warning": "; ".join(w.message for w in warnings),
        "warnings": [{"code": w.code, "message": w.message} for w in warnings],
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
