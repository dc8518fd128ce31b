"""Protocol details through a real `codearchitect serve` subprocess (issue 16 item 5, issue
14 item 10a): every tool error in the documented envelope with a code (unknown tool
included), a not-found error for a missing resource, annotations and dedented
descriptions on every tool, INVALID_INPUT for an unsafe id, and delete_message's
`session` argument for an id two sessions hold."""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

from mcp_server.errors import ERROR_CODES
from tests.helpers.mcp_text import resource_text, result_text
from tests.helpers.servers import server_params
from vault import Message, Vault

pytestmark = pytest.mark.anyio


# tool -> (readOnlyHint, destructiveHint, idempotentHint)
HINTS = {
    "store_session": (False, False, False),
    "store_message": (False, False, False),
    "get_or_create_session": (False, False, True),
    "patch_session": (False, True, True),
    "delete_session": (False, True, True),
    "delete_message": (False, True, True),
    "get_session": (True, False, True),
    "list_sessions": (True, False, True),
    "get_messages": (True, False, True),
    "recent_messages": (True, False, True),
    "search_messages": (True, False, True),
    "get_context": (True, False, True),
    "conversation_pairs": (True, False, True),
    "count_messages": (True, False, True),
    "index_status": (True, False, True),
}


def envelope(result: CallToolResult) -> dict[str, Any]:
    """The failure envelope, identical as structured content and as text."""
    assert result.is_error
    data = dict(result.structured_content or {})
    assert json.loads(result_text(result)) == data
    assert data["success"] is False and set(data) == {"success", "error", "message", "details"}
    assert data["error"] in ERROR_CODES
    return data


async def test_tools_carry_annotations_and_clean_descriptions(vault_root: Path) -> None:
    async with Client(server_params(vault_root)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == set(HINTS)
    for name, tool in tools.items():
        notes = tool.annotations
        assert notes is not None, name
        assert notes.title and tool.title == notes.title, name
        hints = (notes.read_only_hint, notes.destructive_hint, notes.idempotent_hint)
        assert hints == HINTS[name], name
        assert notes.open_world_hint is False, name
        description = tool.description or ""
        assert description and description == inspect.cleandoc(description), name
        assert "\n    " not in description, name


async def test_errors_are_envelopes_with_codes(vault_root: Path) -> None:
    async with Client(server_params(vault_root)) as client:
        # An unknown tool: the documented envelope, not the SDK's plain text.
        data = envelope(await client.call_tool("no_such_tool", {}))
        assert data["error"] == "TOOL_NOT_FOUND" and "no_such_tool" in data["message"]
        assert "store_message" in data["details"]
        # An unsafe id is INVALID_INPUT (docs/tools.md), not SESSION_NOT_FOUND.
        for tool in ("get_session", "get_messages", "conversation_pairs", "delete_session"):
            data = envelope(await client.call_tool(tool, {"session": "../../etc/passwd"}))
            assert data["error"] == "INVALID_INPUT" and "session" in data["message"], data
            assert "Value error" not in data["message"]
        for tool, args in [
            ("count_messages", {}),
            ("search_messages", {"query": "x"}),
            ("recent_messages", {}),
        ]:
            data = envelope(await client.call_tool(tool, {**args, "session": "a/../b"}))
            assert data["error"] == "INVALID_INPUT", (tool, data)
        # Wrong arguments and a missing session keep their codes.
        data = envelope(await client.call_tool("get_session", {"session": "nope"}))
        assert data["error"] == "SESSION_NOT_FOUND"
        data = envelope(await client.call_tool("get_session", {"session": "s", "bogus": 1}))
        assert data["error"] == "INVALID_INPUT" and data["message"].count("bogus")


async def test_resources_answer_not_found(vault_root: Path) -> None:
    async with Client(server_params(vault_root)) as client:
        stored = await client.call_tool(
            "store_message", {"content": "hi", "role": "user", "session": "here"}
        )
        assert not stored.is_error
        read = await client.read_resource("codearchitect://session/here")
        body = json.loads(resource_text(read))
        assert body["session"]["id"] == "here" and body["messages"][0]["content"] == "hi"
        for uri, code in [
            ("codearchitect://session/missing", "SESSION_NOT_FOUND"),
            ("codearchitect://nothing/here", "RESOURCE_NOT_FOUND"),
            ("codearchitect://session/..", "RESOURCE_NOT_FOUND"),  # the SDK refuses ..
            ("codearchitect://session/%E2%80%AEevil", "INVALID_INPUT"),
        ]:
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            error = caught.value.error
            assert error.code == -32602, error  # the SDK's not-found code, not -32603
            assert isinstance(error.data, dict) and error.data["error"] == code, error
            assert error.data["success"] is False and error.data["uri"] in (uri, unquote(uri))
        # The server still answers.
        assert not (await client.call_tool("count_messages", {})).is_error


async def test_delete_message_held_by_two_sessions(vault_root: Path) -> None:
    vault = Vault(vault_root)
    shared = Message("m01JH3Q8Z6M3V1R6Y8S9T0W2X4C", "user", "twice", "2025-01-15T14:30:22.123Z")
    other = Message("m01JH3Q8Z6M3V1R6Y8S9T0W2X4D", "user", "once", "2025-01-15T14:30:23.123Z")
    vault.append_messages("first", [shared, other])
    vault.append_messages("second", [shared])
    async with Client(server_params(vault_root)) as client:
        deadline = time.monotonic() + 30
        while (await client.call_tool("count_messages", {})).structured_content["count"] < 3:
            assert time.monotonic() < deadline, "the files were never indexed"
            await anyio.sleep(0.1)
        data = envelope(await client.call_tool("delete_message", {"message_id": shared.id}))
        assert data["error"] == "INVALID_INPUT", data
        assert "'session'" in data["message"], data
        assert "first" in data["details"] and "second" in data["details"], data
        result = await client.call_tool(
            "delete_message", {"message_id": shared.id, "session": "second"}
        )
        assert not result.is_error and result.structured_content["deleted"] is True
        data = envelope(
            await client.call_tool("delete_message", {"message_id": other.id, "session": "second"})
        )
        assert data["error"] == "MESSAGE_NOT_FOUND", data
    assert [m.id for m in Vault(vault_root).get("first").messages] == [shared.id, other.id]
    assert Vault(vault_root).get("second").messages == ()
