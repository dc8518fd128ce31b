"""Issue 14 item 4: an oversize patch or new session changes nothing.

`patch_session(title="T"*70000)` (or tags/metadata past the 64 KB frontmatter limit, or
`get_or_create_session` with such a title) used to replace the file, then answer
MALFORMED_SESSION_FILE: the session left search, appends were refused and the next
get_or_create_session made a second session. Now each is INVALID_INPUT naming the field,
and the vault is byte-identical afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from vault import Vault

pytestmark = pytest.mark.anyio

KEY = {"agent_id": "a", "channel": "cli", "account_id": "me", "peer_kind": "user", "peer_id": "p"}


def snapshot(root: Path) -> dict[str, bytes]:
    sessions = root / ".codearchitect" / "sessions"
    return {
        str(p.relative_to(sessions)): p.read_bytes() for p in sessions.rglob("*") if p.is_file()
    }


async def call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    data = dict(result.structured_content or {})
    assert data["success"] is (not result.is_error), data
    return data


async def assert_session_intact(client: Client, session: str) -> None:
    found = await call(client, "search_messages", {"query": "kiwifruit", "session": session})
    assert [h["session_id"] for h in found["hits"]] == [session], found
    appended = await call(
        client, "store_message", {"content": "more", "role": "user", "session": session}
    )
    assert appended["success"] and not appended["created_session"], appended


OVERSIZE: list[tuple[str, Any]] = [
    ("title", "T" * 70_000),
    ("tags", [f"tag-{i:05d}-" + "x" * 60 for i in range(1_000)]),
    ("metadata", {"notes": "n" * 70_000}),
    ("metadata", {f"k{i}": "v" * 100 for i in range(700)}),
]


@pytest.mark.parametrize(("field", "value"), OVERSIZE)
async def test_oversize_patch_changes_nothing(
    client: Client, vault_root: Path, field: str, value: Any
) -> None:
    await call(
        client, "store_message", {"content": "kiwifruit salad", "role": "user", "session": "s"}
    )
    before = snapshot(vault_root)
    data = await call(client, "patch_session", {"session": "s", field: value})
    assert data["error"] == "INVALID_INPUT", data
    assert field in data["message"], data
    assert "64 KB" in data["message"], data
    assert snapshot(vault_root) == before
    got = await call(client, "get_session", {"session": "s"})
    assert got["session"]["title"] != "T" * 70_000
    await assert_session_intact(client, "s")
    # A patch within the limit still works afterwards.
    data = await call(client, "patch_session", {"session": "s", "title": "T" * 1_000})
    assert data["session"]["title"] == "T" * 1_000


async def test_oversize_title_for_a_new_session_writes_nothing(
    client: Client, vault_root: Path
) -> None:
    await call(client, "store_message", {"content": "kiwifruit", "role": "user", "session": "s"})
    before = snapshot(vault_root)
    for _ in range(2):  # the retry must not create anything either
        data = await call(client, "get_or_create_session", {**KEY, "title": "T" * 70_000})
        assert data["error"] == "INVALID_INPUT" and "title" in data["message"], data
    assert snapshot(vault_root) == before
    created = await call(client, "get_or_create_session", {**KEY, "title": "fine"})
    again = await call(client, "get_or_create_session", KEY)
    assert created["created"] and not again["created"]
    assert created["session"]["id"] == again["session"]["id"]
    assert len(Vault(vault_root).session_ids()) == 2
