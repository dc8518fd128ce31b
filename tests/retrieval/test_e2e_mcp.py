"""End to end over the real MCP server (a `codearchitect serve` subprocess on stdio) with
the real all-MiniLM-L6-v2: enable semantic search, store messages, find one by meaning,
recall within a budget."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from mcp import Client

from bench.transcript import parse
from indexer.context_cost import result_cost
from mcp_server.cli import cli
from tests.helpers.mcp_text import result_text
from tests.helpers.servers import server_params

from .conftest import needs_minilm

pytestmark = [pytest.mark.anyio, needs_minilm]

CONVERSATIONS = [
    (
        "How can I make my laptop battery last longer?",
        "Lower the screen brightness, close apps running in the background and use power saver mode.",
    ),
    ("What's a good sourdough hydration for beginners?", "Start around 70% water to flour."),
    (
        "Why does my Postgres query ignore the index?",
        "Check the planner statistics with ANALYZE; a function on the column also defeats the index.",
    ),
    ("Recommend a sci-fi novel", "Try The Left Hand of Darkness by Ursula K. Le Guin."),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_semantic_search_and_context_over_stdio(vault_root: Path) -> None:
    result = CliRunner().invoke(cli, ["semantic", "enable", "--root", str(vault_root)])
    assert result.exit_code == 0, result.output
    async with Client(server_params(vault_root)) as client:
        for user, assistant in CONVERSATIONS:
            r = await client.call_tool("store_message", {"content": user, "role": "user"})
            sid = r.structured_content["message"]["sessionId"]
            r = await client.call_tool(
                "store_message", {"content": assistant, "role": "assistant", "session": sid}
            )
            assert not r.is_error
        deadline = time.monotonic() + 60
        while True:
            status = (await client.call_tool("index_status", {})).structured_content
            if status["semantic"].get("pending") == 0 or time.monotonic() > deadline:
                break
            await anyio.sleep(0.2)
        assert status["semantic"]["embedded"] == 8, status["semantic"]

        # no shared word with the stored text: only meaning can find it
        r = await client.call_tool(
            "search_messages", {"query": "extend notebook power life", "limit": 2}
        )
        data = r.structured_content
        assert data["mode"] == "hybrid"
        assert "battery" in data["hits"][0]["snippet"] or "brightness" in data["hits"][0]["snippet"]
        assert "semantic" in data["hits"][0]["found_by"]
        r = await client.call_tool(
            "search_messages", {"query": "extend notebook power life", "mode": "keyword"}
        )  # keyword ranks the words it finds: only "power" is in a stored message
        assert [h["snippet"][:26] for h in r.structured_content["hits"]] == [
            "Lower the screen brightnes"
        ]

        r = await client.call_tool(
            "get_context", {"query": "database planner not using my index", "max_tokens": 300}
        )
        assert not r.is_error and r.structured_content is None
        text = result_text(r)  # what the agent reads, all of it: the budget paid for it
        ctx = parse(text)
        assert ctx["tokens"] == result_cost(ctx) <= 300
        shown = {
            (s["session_id"], m["offset"]): m["content"]
            for s in ctx["sessions"]
            for m in s["messages"]
        }
        assert any("Postgres" in c or "ANALYZE" in c for c in shown.values())
        assert ctx["omitted"]["count"] > 0  # eight messages do not fit in 300 tokens
        for session, offset in ctx["omitted"]["best"]:  # a pointer reads a message not shown
            r = await client.call_tool(
                "get_messages", {"session": session, "offset": offset, "limit": 1}
            )
            assert len(r.structured_content["messages"]) == 1
            assert (session, offset) not in shown
