"""Scenario 27: argument bounds and encodings, through a real `codearchitect serve` process.

Issue 14 items 3, 8 and 9: one request must never kill the server or go unanswered, and
a string argument arrives as the exact string the client sent. Every call here waits for
its answer (a dead or silent server fails the test) and the server must still answer a
plain call afterwards.
"""

from __future__ import annotations

import json
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
# A valid value for each required argument, so the hostile one is the only problem.
VALID: dict[str, Any] = {"role": "user", "max_tokens": 500, "session": "s"}


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
    calls: list[tuple[str, dict[str, Any]]] = [
        ("search_messages", {"query": query, "mode": "keyword"}),
        ("search_messages", {"query": query}),
        ("get_context", {"query": query, "max_tokens": 500}),
    ]
    for tool, args in calls:
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


# ------------------------------------------------------------------ item 8: strings as sent


def test_string_arguments_arrive_as_sent(server: RawServer) -> None:
    # The SDK re-parsed strings as JSON: session="null" made a new session on every call,
    # search/count with session="null" dropped the filter, title="null" was a no-op,
    # conversation="[]" stored an empty list and session="[1]" was refused.
    first = server.call("store_message", {"content": "one", "role": "user", "session": "null"})
    second = server.call("store_message", {"content": "two", "role": "user", "session": "null"})
    assert first["message"]["sessionId"] == second["message"]["sessionId"] == "null"
    assert first["created_session"] is True and second["created_session"] is False
    assert server.call("count_messages", {"session": "null"})["count"] == 2
    assert server.call("count_messages", {})["count"] == 3  # with the fixture's message
    found = server.call("search_messages", {"query": "hello", "session": "null"})
    assert found["success"] and found["hits"] == [], found
    found = server.call("search_messages", {"query": "two", "session": "null"})
    assert [h["session_id"] for h in found["hits"]] == ["null"], found
    patched = server.call("patch_session", {"session": "null", "title": "null"})
    assert patched["session"]["title"] == "null", patched
    for odd in ("[1]", "{}", "[]", "true", "0"):
        stored = server.call("store_message", {"content": odd, "role": "user", "session": odd})
        assert stored["success"] and stored["message"]["sessionId"] == odd, stored
        got = server.call("get_session", {"session": odd})
        assert [m["content"] for m in got["messages"]] == [odd], got
    stored = server.call("store_session", {"conversation": "[]"})
    assert stored["success"] and stored["message_count"] == 1, stored
    got = server.call("get_messages", {"session": stored["session_id"]})
    assert [m["content"] for m in got["messages"]] == ["[]"], got
    stored = server.call("store_session", {"conversation": "null", "topic": "null"})
    assert stored["success"] and stored["topic"] == "null", stored
    # An argument that admits no string (tags, metadata) is still read from JSON text.
    patched = server.call("patch_session", {"session": "null", "tags": '["a", "b"]'})
    assert patched["session"]["tags"] == ["a", "b"], patched
    alive(server)


# ------------------------------------------------------------------ item 9: always an answer


def refused(server: RawServer, raw: bytes, rid: int) -> dict[str, Any]:
    """Write one raw request line and wait for its answer (a silent server times out)."""
    server.write(raw + b"\n")
    answer = server.wait(rid, timeout=30)
    assert "error" in answer, answer
    assert answer["error"]["code"] == -32602, answer
    data = answer["error"]["data"]
    assert data["success"] is False and data["error"] == "INVALID_INPUT", answer
    return dict(data)


def raw_call(rid: int, tool: str, arguments_json: str) -> bytes:
    head = f'{{"jsonrpc":"2.0","id":{rid},"method":"tools/call","params":{{"name":"{tool}",'
    return (head + f'"arguments":{arguments_json}}}}}').encode()


def test_lone_surrogate_in_every_string_argument_is_answered(
    server: RawServer, vault_root: Path
) -> None:
    before = sorted(Vault(vault_root).session_ids())
    tools = server.request("tools/list", {})["result"]["tools"]
    tried = 0
    for tool in tools:
        schema = tool["inputSchema"]
        for arg, prop in schema.get("properties", {}).items():
            types = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", [])}
            if "string" not in types:
                continue
            args = {k: VALID.get(k, "hello") for k in schema.get("required", [])}
            args[arg] = "@@"
            text = json.dumps(args).replace('"@@"', '"a\\ud800b"')
            rid = server.new_id()
            data = refused(server, raw_call(rid, tool["name"], text), rid)
            assert "surrogate" in data["message"], data
            tried += 1
    assert tried >= 30
    # A surrogate pair is fine, as escapes or as UTF-8.
    rid = server.new_id()
    ok = raw_call(rid, "store_message", '{"content":"\\ud83d\\ude00","role":"user","session":"s"}')
    server.write(ok + b"\n")
    assert server.wait(rid)["result"]["structuredContent"]["success"]
    assert sorted(Vault(vault_root).session_ids()) == before
    alive(server)


@pytest.mark.parametrize("depth", [199, 500, 5000])
def test_deeply_nested_json_is_answered(server: RawServer, vault_root: Path, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    rid = server.new_id()
    line = raw_call(
        rid, "store_message", f'{{"content":"x","role":"user","metadata":{{"v":{nested}}}}}'
    )
    data = refused(server, line, rid)
    assert "nested" in data["message"], data
    assert sorted(Vault(vault_root).session_ids()) == ["s"]
    alive(server)


def test_nesting_the_parser_accepts_still_works(server: RawServer) -> None:
    nested = "[" * 100 + "]" * 100
    rid = server.new_id()
    line = raw_call(
        rid,
        "store_message",
        f'{{"content":"x","role":"user","session":"s","metadata":{{"v":{nested}}}}}',
    )
    server.write(line + b"\n")
    assert server.wait(rid)["result"]["structuredContent"]["success"]


# ------------------------------------------------------------------ item 10b: standard JSON only


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "NaN", "Infinity"])
def test_non_finite_numbers_are_invalid_input(
    server: RawServer, vault_root: Path, literal: str
) -> None:
    # A metadata value 1e999 was stored as Infinity (non-standard JSON in the text result).
    sessions = vault_root / ".codearchitect" / "sessions"
    before = {p: p.read_bytes() for p in sessions.rglob("*.md")}
    calls = [
        (
            "store_message",
            f'{{"content":"x","role":"user","session":"s","metadata":{{"v":{literal}}}}}',
        ),
        (
            "store_message",
            f'{{"content":"x","role":"user","metadata":{{"a":[{{"v":{literal}}}]}}}}',
        ),
        ("patch_session", f'{{"session":"s","metadata":{{"v":{literal}}}}}'),
        (
            "store_session",
            f'{{"conversation":[{{"role":"user","content":"x","metadata":{{"v":{literal}}}}}]}}',
        ),
        ("store_session", f'{{"conversation":[{{"role":"user","content":{{"v":{literal}}}}}]}}'),
    ]
    for tool, args in calls:
        rid = server.new_id()
        server.write(raw_call(rid, tool, args) + b"\n")
        answer = server.wait(rid, timeout=30)
        text = answer["result"]["content"][0]["text"]
        assert "Infinity" not in text and "NaN" not in text, text
        data = json.loads(text)  # standard JSON
        assert data["error"] == "INVALID_INPUT", (tool, data)
        assert "metadata" in data["message"] or "conversation" in data["message"], data
    assert {p: p.read_bytes() for p in sessions.rglob("*.md")} == before
    alive(server)
