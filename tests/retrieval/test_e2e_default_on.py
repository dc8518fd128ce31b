"""End to end over the real MCP server (`codearchitect serve` on stdio) with the real
all-MiniLM-L6-v2 and no setting at all: semantic search is on by default, a natural
question and a paraphrase both find the turn that answers them, and get_context brings the
turns around it under its session's title and date."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from bench.transcript import parse
from tests.helpers.mcp_text import result_text
from tests.helpers.servers import server_params

from .conftest import needs_minilm

pytestmark = [pytest.mark.anyio, needs_minilm]

SESSIONS = [
    [
        ("user", "Where should we go for our anniversary weekend?"),
        (
            "assistant",
            "How about the coast? The fishing village of Portmeirion has a lovely hotel.",
        ),
        ("user", "Booked it for the 14th, thanks!"),
        ("assistant", "Great, enjoy the trip."),
    ],
    [
        ("user", "My bread never rises properly."),
        ("assistant", "Your yeast may be old; proof it in warm water with a pinch of sugar first."),
    ],
    [
        ("user", "The car makes a squealing noise when I brake."),
        ("assistant", "That is usually the wear indicator: the brake pads need replacing soon."),
    ],
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_default_on_finds_the_answer_and_context_brings_its_turns(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CODEARCHITECT_SEMANTIC")  # the default as users get it
    async with Client(server_params(vault_root)) as client:
        stored = []
        for turns in SESSIONS:
            conversation = [{"role": r, "content": c} for r, c in turns]
            r = await client.call_tool(
                "store_session", {"conversation": conversation, "format": "messages"}
            )
            assert not r.is_error, r.structured_content
            stored.append(r.structured_content)
        deadline = time.monotonic() + 120
        while True:
            status = (await client.call_tool("index_status", {})).structured_content
            semantic = status["semantic"]
            if semantic.get("pending") == 0 or time.monotonic() > deadline:
                break
            await anyio.sleep(0.2)
        assert semantic["enabled"] is True and semantic["embedded"] == 8, semantic
        assert not (vault_root / ".codearchitect" / "config.json").exists()

        trip = stored[0]["session_id"]
        messages = (await client.call_tool("get_messages", {"session": trip})).structured_content
        answer = messages["messages"][1]["id"]
        for question in (
            "Where did we decide to go for our anniversary?",  # natural, shares words
            "which seaside town did we pick for the romantic getaway",  # a paraphrase
        ):
            r = await client.call_tool("search_messages", {"query": question, "limit": 3})
            data = r.structured_content
            assert data["mode"] == "hybrid"
            assert answer in [h["message_id"] for h in data["hits"]], (question, data["hits"])

        r = await client.call_tool(
            "get_context",
            {"query": "Where did we decide to go for our anniversary?", "max_tokens": 2000},
        )
        assert not r.is_error and r.structured_content is None  # a transcript only
        ctx = parse(result_text(r))
        assert ctx["tokens"] <= 2000
        (session,) = [s for s in ctx["sessions"] if s["session_id"] == trip]
        assert session["date"][:16] == str(stored[0]["date"])[:16]  # to the minute
        assert session["title"]
        offsets = [m["offset"] for m in session["messages"]]
        assert {0, 1, 2} <= set(offsets)  # the question before the answer, the reply after
