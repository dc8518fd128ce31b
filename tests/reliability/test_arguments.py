"""Scenario 27: argument bounds and encodings, through a real `codearchitect serve` process.

Issue 14 items 3, 8 and 9: one request must never kill the server or go unanswered, and
a string argument arrives as the exact string the client sent. Every call here waits for
its answer (a dead or silent server fails the test) and the server must still answer a
plain call afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from indexer import Indexer
from indexer.filters import MAX_SEARCH_LIMIT, MAX_SEARCH_OFFSET
from indexer.queries import MAX_OFFSET
from mcp_server import server as mcp_server_module
from vault import InvalidInput, Vault

from .conftest import FAST, RawServer

HUGE = [2**31, 2**63, 10**30]


@pytest.fixture
def server(vault_root: Path, raw_servers: Callable[..., RawServer]) -> Iterator[RawServer]:
    srv = raw_servers(vault_root)
    srv.initialize()
    stored = srv.call("store_message", {"content": "hello there", "role": "user", "session": "s"})
    assert stored["success"], stored
    yield srv
    srv.close()


def alive(srv: RawServer) -> None:
    """The server still answers, and the stored message is still found."""
    found = srv.call("search_messages", {"query": "hello"}, timeout=30)
    assert found["success"] and [h["session_id"] for h in found["hits"]] == ["s"], found


PAGED = [
    ("search_messages", {"query": "hello"}),
    ("get_session", {"session": "s"}),
    ("get_messages", {"session": "s"}),
    ("list_sessions", {}),
]


@pytest.mark.parametrize("value", HUGE)
def test_huge_offset_and_limit_are_invalid_input(server: RawServer, value: int) -> None:
    # search_messages {"query": "hello", "offset": 2147483648} aborted the process
    # (tantivy allocated offset+limit slots); 10**30 was an OverflowError (UNKNOWN_ERROR).
    for tool, args in PAGED:
        for field in ("offset", "limit"):
            answer = server.call(tool, {**args, field: value}, timeout=30)
            assert answer["success"] is False, (tool, field, answer)
            assert answer["error"] == "INVALID_INPUT", (tool, field, answer)
            assert field in answer["message"], answer
    for tool, args in [("recent_messages", {}), ("conversation_pairs", {"session": "s"})]:
        answer = server.call(tool, {**args, "limit": value}, timeout=30)
        assert answer["error"] == "INVALID_INPUT", (tool, answer)
    alive(server)


def test_documented_maxima_are_accepted_and_one_more_refused(server: RawServer) -> None:
    for tool, args in PAGED:
        top = MAX_SEARCH_OFFSET if tool == "search_messages" else MAX_OFFSET
        at = server.call(tool, {**args, "offset": top, "limit": 1000}, timeout=30)
        assert at["success"], (tool, at)
        over = server.call(tool, {**args, "offset": top + 1}, timeout=30)
        assert over["error"] == "INVALID_INPUT" and "offset" in over["message"], over
    alive(server)


def test_schema_states_the_indexer_bounds(server: RawServer) -> None:
    tools = server.request("tools/list", {})["result"]["tools"]
    schemas = {t["name"]: t["inputSchema"]["properties"] for t in tools}
    assert schemas["search_messages"]["offset"]["maximum"] == MAX_SEARCH_OFFSET
    assert schemas["search_messages"]["limit"]["maximum"] == MAX_SEARCH_LIMIT
    for tool in ("get_session", "get_messages", "list_sessions"):
        assert schemas[tool]["offset"]["maximum"] == MAX_OFFSET, tool
    assert mcp_server_module.MAX_OFFSET == MAX_OFFSET
    assert mcp_server_module.MAX_SEARCH_OFFSET == MAX_SEARCH_OFFSET


@pytest.mark.parametrize("depth", [33, 499, 1500])
def test_deeply_nested_parentheses_are_invalid_query(server: RawServer, depth: int) -> None:
    # 499 nested parentheses were a RecursionError (UNKNOWN_ERROR).
    query = "(" * depth + "hello" + ")" * depth
    for tool, args in [
        ("search_messages", {"query": query, "mode": "keyword"}),
        ("search_messages", {"query": query}),
        ("get_context", {"query": query, "max_tokens": 500}),
    ]:
        answer = server.call(tool, args, timeout=30)
        if answer["success"]:  # get_context may read the query as plain words
            assert tool == "get_context", answer
            continue
        expected = "INVALID_INPUT" if len(query) > 1000 else "INVALID_QUERY"
        assert answer["error"] == expected, (tool, answer)
    alive(server)


def test_nesting_within_the_limit_still_parses(server: RawServer) -> None:
    query = "(" * 32 + "hello" + ")" * 32
    answer = server.call("search_messages", {"query": query, "mode": "keyword"})
    assert answer["success"] and len(answer["hits"]) == 1, answer
    quoted = '"(((((" hello'  # parentheses inside a phrase are not grouping
    assert server.call("search_messages", {"query": quoted, "mode": "keyword"})["success"]


@pytest.mark.parametrize("value", [*HUGE, -1])
def test_indexer_refuses_out_of_range_pages(vault_root: Path, value: int) -> None:
    """The bounds hold below the server too (CLI, Python callers)."""
    vault = Vault(vault_root)
    vault.append_message("s", "user", "hello there")
    calls: list[Callable[[Indexer], Any]] = [
        lambda ix: ix.search("hello", offset=value),
        lambda ix: ix.get_messages("s", offset=value),
        lambda ix: ix.list_sessions(offset=value),
    ]
    with Indexer(vault, FAST) as ix:
        ix.reconcile()
        for call in calls:
            with pytest.raises(InvalidInput) as caught:
                call(ix)
            assert caught.value.code == "INVALID_INPUT"
