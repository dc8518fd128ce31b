"""What an MCP client reads as text: a tool result's content block, a resource's contents."""

from __future__ import annotations

from typing import Any

from mcp.types import CallToolResult, ReadResourceResult, TextContent, TextResourceContents

__all__ = ("resource_text", "result_data", "result_text")


def result_text(result: CallToolResult) -> str:
    """The text of a tool result's first content block, which our tools send as text
    (mcp_server/results.py)."""
    block = result.content[0]
    assert isinstance(block, TextContent), block
    return block.text


def result_data(result: CallToolResult) -> dict[str, Any]:
    """A tool result's structured content; a success that is a text only (get_context's
    transcript) as `{"success": True, "text": …}`."""
    if result.structured_content is None:
        assert not result.is_error, result
        return {"success": True, "text": result_text(result)}
    return dict(result.structured_content)


def resource_text(result: ReadResourceResult) -> str:
    """The text of a resource read's first contents, which our resources send as JSON text."""
    contents = result.contents[0]
    assert isinstance(contents, TextResourceContents), contents
    return contents.text
