"""Issue 14 item 5: a write whose file is saved succeeds even when the index cannot take it.

The mirror locked by another process (or a file-size limit on it) used to make
store_message answer INDEX_UNAVAILABLE after ~61 s although the message was appended and
fsynced; the client's retry then stored a second copy. Now the call answers within a few
seconds with success and the `INDEX_BEHIND` warning, and the index catches up from the
file once it can: every message once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer import Indexer
from indexer.schema import DB_NAME
from indexer.sync import Syncer
from vault import Vault

from .conftest import FAST, RawServer, assert_index_equals_files, wait_until

KEY = {"agent_id": "a", "channel": "cli", "account_id": "me", "peer_kind": "user", "peer_id": "p"}


def hits(server: RawServer, query: str) -> list[str]:
    found = server.call("search_messages", {"query": query})
    assert found["success"], found
    return [h["message_id"] for h in found["hits"]]


def test_writes_succeed_while_another_process_holds_the_mirror(
    vault_root: Path, raw_servers: Callable[..., RawServer]
) -> None:
    server = raw_servers(vault_root)
    server.initialize()
    assert server.call("store_message", {"content": "before", "role": "user", "session": "s"})[
        "success"
    ]
    # "before" is a stop word: plain, it finds nothing; +before requires it as written
    assert wait_until(lambda: len(hits(server, "+before")) == 1, timeout=30)
    mirror = vault_root / ".codearchitect" / "index" / DB_NAME
    holder = sqlite3.connect(mirror, isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")  # a real write lock, as another process would hold
    try:
        started = time.monotonic()
        during = server.call(
            "store_message", {"content": "during lock", "role": "user", "session": "s"}
        )
        took = time.monotonic() - started
        assert during["success"], during
        assert [w["code"] for w in during["warnings"]] == ["INDEX_BEHIND"], during
        assert took < 30, f"the write waited {took:.1f} s for the index"
        created = server.call("store_message", {"content": "new one", "role": "user"})
        assert created["success"] and created["created_session"], created
        first = server.call("get_or_create_session", KEY)
        retry = server.call("get_or_create_session", KEY)  # a client retrying
        assert first["success"] and first["created"], first
        assert retry["success"] and not retry["created"], retry
        assert retry["session"]["id"] == first["session"]["id"]
        patched = server.call("patch_session", {"session": "s", "title": "while locked"})
        assert patched["success"] and patched["session"]["title"] == "while locked", patched
    finally:
        holder.rollback()
        holder.close()
    # The files hold every write once, and the index catches up from them.
    vault = Vault(vault_root)
    contents = [m.content for m in vault.get("s").messages]
    assert contents == ["before", "during lock"]
    assert len(vault.session_ids()) == 3
    assert wait_until(lambda: len(hits(server, '"during lock"')) == 1, timeout=60)
    assert wait_until(lambda: len(hits(server, '"new one"')) == 1, timeout=60)
    assert server.call("count_messages", {})["count"] == 3
    listed = server.call("list_sessions", {"agent_id": "a"})
    assert [s["id"] for s in listed["sessions"]] == [first["session"]["id"]]
    server.close()
    assert_index_equals_files(vault_root)


@pytest.mark.parametrize(
    "fault",
    [
        sqlite3.OperationalError("database or disk is full"),
        sqlite3.OperationalError("disk I/O error"),  # what a file-size limit gives
    ],
)
def test_an_index_fault_after_the_append_is_caught_up(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch, fault: Exception
) -> None:
    vault = Vault(vault_root)
    with Indexer(vault, FAST) as ix:
        ix.append_message("s", "user", "first")
        real = Syncer.apply_append
        calls = {"n": 0}

        def failing(self: Syncer, appended: object) -> str:
            calls["n"] += 1
            if calls["n"] == 1:
                raise fault  # the only mock: inject the fault once
            return real(self, appended)  # type: ignore[arg-type]

        monkeypatch.setattr(Syncer, "apply_append", failing)
        second = ix.append_message("s", "assistant", "second")
        assert [w.code for w in second.warnings] == ["INDEX_BEHIND"]
        assert [m.content for m in vault.get("s").messages] == ["first", "second"]
        third = ix.append_message("s", "user", "third")  # catches up first
        assert third.warnings == ()
        ids = [m.id for m in ix.get_messages("s")]
        assert ids == [m.id for m in vault.get("s").messages]
        assert len(ids) == len(set(ids)) == 3
    assert_index_equals_files(vault_root)
