"""Every tool through the SDK's in-memory client, with seed 000's and 003's cases as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.helpers.mcp_text import resource_text, result_text

pytestmark = pytest.mark.anyio


async def call(client: Client, tool: str, args: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    result = await client.call_tool(tool, args)
    data = result.structured_content
    assert data is not None
    assert json.loads(result_text(result)) == data  # the same JSON as text
    return bool(result.is_error), data


def files_under(root: Path) -> set[Path]:
    return {
        p
        for p in root.rglob("*")
        if p.is_file() and "index" not in p.parts and "locks" not in p.parts
    }


# ----------------------------------------------------------------- seed 003


async def test_seed003_example1_plain(client: Client, vault_root: Path) -> None:
    err, data = await call(
        client,
        "store_session",
        {
            "conversation": "User: Implement authentication\nAI: Let's use JWT tokens...",
            "topic": "Authentication Implementation",
            "format": "plain",
        },
    )
    assert not err
    assert data["success"] is True
    assert data["filename"].endswith("-authentication-implementation.md")
    assert data["filename"].startswith("session-")
    assert data["topic"] == "authentication-implementation"
    assert data["message"] == f"Session saved to {data['filename']}"
    assert Path(data["file"]).is_file()
    assert Path(data["file"]).parent.parent == vault_root / ".codearchitect" / "sessions"
    assert data["date"].endswith("Z")
    assert data["message_count"] == 2
    assert "warning" not in data


async def test_seed003_example2_messages(client: Client) -> None:
    err, data = await call(
        client,
        "store_session",
        {
            "conversation": [
                {"role": "user", "content": "Add database connection"},
                {"role": "assistant", "content": "I'll help you set up a database connection..."},
            ],
            "format": "messages",
        },
    )
    assert not err
    assert data["topic"] == "add-database-connection"
    assert data["filename"].endswith("-add-database-connection.md")


async def test_seed003_example3_empty_is_invalid(client: Client, vault_root: Path) -> None:
    before = files_under(vault_root)
    err, data = await call(client, "store_session", {"conversation": ""})
    assert err
    assert data == {
        "success": False,
        "error": "INVALID_INPUT",
        "message": "Conversation cannot be empty",
        "details": "field: conversation",
    }
    assert files_under(vault_root) == before


async def test_seed003_edge_empty_list_warns(client: Client) -> None:
    err, data = await call(client, "store_session", {"conversation": [], "format": "messages"})
    assert not err
    assert "Conversation is empty" in data["warning"]


async def test_seed003_edge_truncated(client: Client) -> None:
    err, data = await call(
        client,
        "store_session",
        {"conversation": "User: " + "x" * (1024 * 1024 + 1), "topic": "big"},
    )
    assert not err
    assert "Conversation truncated to 1MB" in data["warning"]
    assert len(Path(data["file"]).read_bytes()) < 1024 * 1024 + 4096


async def test_seed003_edge_root_not_found(tmp_path: Path) -> None:
    from mcp_server.app import App
    from mcp_server.server import build_server

    lonely = tmp_path / "no-project-here"
    lonely.mkdir()
    app = App(None)
    app.root, app.root_warning = (
        lonely,
        __import__("vault").VaultWarning(
            "PROJECT_ROOT_NOT_FOUND", "Using current directory as project root"
        ),
    )
    try:
        async with Client(build_server(app)) as c:
            err, data = await call(c, "store_session", {"conversation": "User: hi", "topic": "t"})
    finally:
        app.close()
    assert not err
    assert "Using current directory as project root" in data["warning"]
    assert Path(data["file"]).is_relative_to(lonely / ".codearchitect")


async def test_seed003_edge_collisions(client: Client) -> None:
    names = []
    for _ in range(3):
        err, data = await call(
            client, "store_session", {"conversation": "User: same", "topic": "Same"}
        )
        assert not err
        names.append(data["filename"])
    assert len(set(names)) == 3


async def test_seed003_over_ten_megabytes(client: Client, vault_root: Path) -> None:
    before = files_under(vault_root)
    err, data = await call(client, "store_session", {"conversation": "x" * (10 * 1024 * 1024 + 1)})
    assert err and data["error"] == "INVALID_INPUT"
    assert files_under(vault_root) == before


# ----------------------------------------------------------------- seed 000


async def test_seed000_auto_creates_named_session(client: Client) -> None:
    err, data = await call(
        client,
        "store_message",
        {"content": "test message", "role": "user", "session": "brand-new-session"},
    )
    assert not err
    assert data["success"] is True
    assert data["message"]["sessionId"] == "brand-new-session"


async def test_seed000_creates_session_when_none_given(client: Client) -> None:
    err, data = await call(client, "store_message", {"content": "test message", "role": "user"})
    assert not err
    assert data["message"]["sessionId"]


async def test_seed000_reuses_existing_session(client: Client) -> None:
    _, first = await call(
        client, "store_message", {"content": "first", "role": "user", "session": "reuse-session"}
    )
    _, second = await call(
        client, "store_message", {"content": "second", "role": "user", "session": "reuse-session"}
    )
    assert first["message"]["sessionId"] == second["message"]["sessionId"]


# ----------------------------------------------------------------- queries


async def seed_conversation(client: Client) -> list[str]:
    ids = []
    for role, text in [
        ("user", "How do we rotate JWT signing keys?"),
        ("assistant", "Keep two keys and rotate weekly; c++ services read both."),
        ("user", "And the flaky login test?"),
        ("assistant", "It raced the session cache; we added a retry."),
    ]:
        _, data = await call(
            client, "store_message", {"content": text, "role": role, "session": "auth-work"}
        )
        ids.append(data["message"]["id"])
    return ids


async def test_read_tools(client: Client) -> None:
    ids = await seed_conversation(client)
    err, data = await call(client, "get_session", {"session": "auth-work"})
    assert not err
    assert data["session"]["id"] == "auth-work"
    assert data["total"] == 4
    assert [m["id"] for m in data["messages"]] == ids

    _, data = await call(client, "get_messages", {"session": "auth-work", "role": "assistant"})
    assert [m["id"] for m in data["messages"]] == [ids[1], ids[3]]
    _, data = await call(client, "get_messages", {"session": "auth-work", "limit": 2, "offset": 1})
    assert [m["id"] for m in data["messages"]] == ids[1:3]

    _, data = await call(client, "recent_messages", {"limit": 2})
    assert [m["id"] for m in data["messages"]] == ids[2:]

    _, data = await call(client, "count_messages", {"session": "auth-work"})
    assert data["count"] == 4
    _, data = await call(client, "count_messages", {})
    assert data["count"] == 4

    _, data = await call(client, "conversation_pairs", {"session": "auth-work", "limit": 1})
    assert data["count"] == 1
    assert data["pairs"][0]["user"]["id"] == ids[2]
    assert data["pairs"][0]["assistant"]["id"] == ids[3]

    _, data = await call(client, "search_messages", {"query": "flaky login"})
    assert data["hits"][0]["message_id"] == ids[2]
    _, data = await call(client, "search_messages", {"query": "c++", "role": "assistant"})
    assert [h["message_id"] for h in data["hits"]] == [ids[1]]

    err, data = await call(client, "delete_message", {"message_id": ids[0]})
    assert not err and data["deleted"] is True
    _, data = await call(client, "count_messages", {"session": "auth-work"})
    assert data["count"] == 3
    _, data = await call(client, "search_messages", {"query": "rotate JWT signing"})
    assert ids[0] not in [h["message_id"] for h in data["hits"]]


async def test_session_tools(client: Client) -> None:
    key = {
        "agent_id": "claude",
        "channel": "cli",
        "account_id": "me",
        "peer_kind": "user",
        "peer_id": "alice",
    }
    err, first = await call(client, "get_or_create_session", {**key, "title": "Alice"})
    assert not err and first["created"] is True
    _, again = await call(client, "get_or_create_session", key)
    assert again["created"] is False
    assert again["session"]["id"] == first["session"]["id"]
    sid = first["session"]["id"]

    err, data = await call(
        client, "patch_session", {"session": sid, "status": "archived", "metadata": {"k": 1}}
    )
    assert not err
    assert data["session"]["status"] == "archived"
    assert data["session"]["metadata"] == {"k": 1}

    _, data = await call(client, "list_sessions", {"status": "archived"})
    assert [s["id"] for s in data["sessions"]] == [sid]
    _, data = await call(client, "list_sessions", {"peer_id": "bob"})
    assert data["sessions"] == []

    _, data = await call(client, "delete_session", {"session": sid})
    assert data["deleted"] is True
    _, data = await call(client, "delete_session", {"session": sid})
    assert data["deleted"] is False
    err, data = await call(
        client, "store_message", {"content": "x", "role": "user", "session": sid}
    )
    assert err and data["error"] == "SESSION_DELETED"


async def test_index_status(client: Client) -> None:
    await seed_conversation(client)
    err, data = await call(client, "index_status", {})
    assert not err
    assert data["sessions"] == 1
    assert data["messages"] == 4
    assert data["malformed"] == []


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("store_message", {"content": "x", "role": "wizard"}, "role"),
        ("store_message", {"content": 42, "role": "user"}, "content"),
        ("store_message", {"role": "user"}, "content"),
        ("store_message", {"content": "x", "role": "user", "session": "../../etc"}, "session"),
        ("store_message", {"content": "x", "role": "user", "bogus": 1}, "bogus"),
        ("get_messages", {"session": "s", "limit": "7"}, "limit"),
        ("get_messages", {"session": "s", "limit": 0}, "limit"),
        ("store_session", {"conversation": 42}, "conversation"),
        ("search_messages", {"query": ""}, "query"),
    ],
)
async def test_invalid_arguments_are_invalid_input(
    client: Client, vault_root: Path, tool: str, args: dict[str, Any], field: str
) -> None:
    before = files_under(vault_root)
    err, data = await call(client, tool, args)
    assert err
    assert data["success"] is False
    assert data["error"] == "INVALID_INPUT"
    assert field in (data["message"] + str(data["details"]))
    assert "Traceback" not in json.dumps(data)
    assert files_under(vault_root) == before


async def test_not_found_codes(client: Client) -> None:
    err, data = await call(client, "get_session", {"session": "nope"})
    assert err and data["error"] == "SESSION_NOT_FOUND"
    err, data = await call(client, "delete_message", {"message_id": "mNOPE"})
    assert err and data["error"] == "MESSAGE_NOT_FOUND"
    err, data = await call(
        client,
        "store_message",
        {"content": "x", "role": "user", "project": "/definitely/not/a/project"},
    )
    assert err and data["error"] == "PROJECT_NOT_FOUND"


async def test_invalid_query_names_the_position(client: Client) -> None:
    await seed_conversation(client)
    err, data = await call(client, "search_messages", {"query": "(" * 40 + "phrase"})
    assert err
    assert data["error"] == "INVALID_QUERY"


async def test_tools_have_descriptions_with_examples(client: Client) -> None:
    tools = (await client.list_tools()).tools
    names = {t.name for t in tools}
    assert {
        "store_session",
        "store_message",
        "get_session",
        "get_or_create_session",
        "list_sessions",
        "patch_session",
        "delete_session",
        "get_messages",
        "recent_messages",
        "search_messages",
        "conversation_pairs",
        "delete_message",
        "count_messages",
        "index_status",
    } <= names
    for tool in tools:
        assert tool.description and len(tool.description) > 40, tool.name
        assert "project" in tool.input_schema["properties"], tool.name


async def test_session_resource(client: Client) -> None:
    await seed_conversation(client)
    templates = (await client.list_resource_templates()).resource_templates
    assert any(t.uri_template == "codearchitect://session/{id}" for t in templates)
    res = await client.read_resource("codearchitect://session/auth-work")
    data = json.loads(resource_text(res))
    assert data["session"]["id"] == "auth-work"
    assert len(data["messages"]) == 4


async def test_second_project_by_path(client: Client, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / ".git").mkdir(parents=True)
    err, data = await call(
        client,
        "store_message",
        {"content": "elsewhere", "role": "user", "session": "o", "project": str(other)},
    )
    assert not err
    assert (other / ".codearchitect" / "sessions").is_dir()
    _, data = await call(client, "count_messages", {"project": str(other)})
    assert data["count"] == 1
    _, data = await call(client, "count_messages", {})
    assert data["count"] == 0
