"""End to end: `codearchitect serve` as a real subprocess, driven by the SDK's stdio client."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.helpers.servers import server_params

pytestmark = pytest.mark.anyio


async def test_store_edit_search_delete_over_stdio(vault_root: Path) -> None:
    async with Client(server_params(vault_root)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "store_session" in tools

        r = await client.call_tool(
            "store_session",
            {"conversation": "User: where is the config?\nAI: in settings.toml", "topic": "Config"},
        )
        assert not r.is_error
        stored = r.structured_content
        path = Path(stored["file"])
        sid = stored["session_id"]

        r = await client.call_tool(
            "store_message", {"content": "and the secrets?", "role": "user", "session": sid}
        )
        assert not r.is_error
        r = await client.call_tool(
            "store_message", {"content": "in the vault", "role": "assistant", "session": sid}
        )
        assert not r.is_error

        r = await client.call_tool("search_messages", {"query": "settings.toml"})
        assert r.structured_content["hits"], r.structured_content

        # A person edits the file in an editor (write a temp file, rename over).
        text = path.read_text().replace("in settings.toml", "in pyproject.toml under [tool.zebra]")
        tmp = path.with_name(".edit.tmp")
        tmp.write_text(text)
        tmp.replace(path)

        deadline = time.monotonic() + 10
        while True:
            r = await client.call_tool("search_messages", {"query": "zebra"})
            if r.structured_content["hits"]:
                break
            assert time.monotonic() < deadline, "hand edit never became searchable"
            await anyio.sleep(0.1)
        assert r.structured_content["hits"][0]["session_id"] == sid

        r = await client.call_tool("delete_session", {"session": sid})
        assert r.structured_content["deleted"] is True
        r = await client.call_tool("search_messages", {"query": "zebra"})
        assert r.structured_content["hits"] == []
    assert not path.exists()


async def test_serve_answers_tools_list_and_keeps_stdout_clean(vault_root: Path) -> None:
    params = server_params(vault_root)
    async with Client(params) as client:
        r = await client.call_tool("store_message", {"content": "x", "role": "wizard"})
        assert r.is_error
        assert r.structured_content["error"] == "INVALID_INPUT"
        assert r.structured_content["success"] is False
