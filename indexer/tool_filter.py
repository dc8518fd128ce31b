"""The `tool` filter: the messages that call a tool, or carry its result, by tool name.

A message's tool names are `vault.message_views.tool_names(metadata)`: the `name` of each
of its `toolCalls` and the `toolName` of a tool result. The full-text index holds them,
folded, in the raw field `tool`; the SQL here reads the same names from the mirror's
metadata JSON (semantic search, counts). Names compare with ASCII letters folded (`bash`
finds `Bash`), as SQLite's `lower()` does.
"""

from __future__ import annotations

from typing import Any

from vault import InvalidInput
from vault.message_views import fold_tool_name

__all__ = ("MAX_TOOL_NAME", "check_tool", "tool_sql")

MAX_TOOL_NAME = 200


def check_tool(value: object) -> str | None:
    """The filter's value, folded; None for no filter. INVALID_INPUT unless a non-empty
    text of at most 200 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TOOL_NAME:
        raise InvalidInput(
            f"'tool' must be a tool name (1..{MAX_TOOL_NAME} characters)", field="tool"
        )
    return fold_tool_name(value)


def tool_sql(alias: str, folded: str) -> tuple[str, list[Any]]:
    """An SQL condition on `<alias>.metadata` true when the message calls or answers the
    tool `folded` (a value from `check_tool`), and its parameters."""
    meta = f"{alias}.metadata"
    sql = (
        f"((json_type({meta}, '$.toolName') = 'text' "
        f"AND lower(json_extract({meta}, '$.toolName')) = ?) "
        f"OR (json_type({meta}, '$.toolCalls') = 'array' AND EXISTS ("
        f"SELECT 1 FROM json_each({meta}, '$.toolCalls') AS call "
        "WHERE call.type = 'object' AND json_type(call.value, '$.name') = 'text' "
        "AND lower(json_extract(call.value, '$.name')) = ?)))"
    )
    return sql, [folded, folded]
