"""Seed 001 (session store) and seed 002 (message store) queries on the mirror."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime
from pathlib import Path

import pytest

from indexer import Indexer
from vault import AmbiguousSession, InvalidInput, MessageNotFound, SessionNotFound, Vault

from .conftest import FAST


def ts(n: int) -> str:
    return f"2025-01-15T10:{n // 60:02d}:{n % 60:02d}.000Z"


@pytest.fixture
def chat(ix: Indexer) -> str:
    roles = ["user", "assistant", "user", "assistant", "system", "user", "assistant", "user"]
    for n, role in enumerate(roles):
        ix.append_message("chat", role, f"message {n}", {"model": "m", "n": n}, created_at=ts(n))
    return "chat"


def test_messages_by_session_with_window_and_paging(ix: Indexer, chat: str) -> None:
    all_ = ix.get_messages(chat)
    assert [m.content for m in all_] == [f"message {n}" for n in range(8)]
    assert [m.position for m in all_] == list(range(8))
    assert all_[0].metadata == {"model": "m", "n": 0}
    window = ix.get_messages(chat, after=ts(1), before=ts(6))
    assert [m.content for m in window] == ["message 2", "message 3", "message 4", "message 5"]
    assert [m.content for m in ix.get_messages(chat, limit=2, offset=3)] == [
        "message 3",
        "message 4",
    ]
    users = ix.get_messages(chat, role="user")
    assert [m.content for m in users] == ["message 0", "message 2", "message 5", "message 7"]


def test_recent_and_count(ix: Indexer, chat: str) -> None:
    ix.append_message("other", "user", "late", created_at="2025-02-01T00:00:00.000Z")
    assert [m.content for m in ix.recent_messages(3)] == ["message 6", "message 7", "late"]
    assert [m.content for m in ix.recent_messages(2, session_id=chat)] == [
        "message 6",
        "message 7",
    ]
    assert ix.count_messages() == 9
    assert ix.count_messages(chat) == 8
    assert ix.count_messages(chat, role="assistant") == 3
    assert ix.delete_message(ix.get_messages(chat)[0].id)
    assert ix.count_messages(chat) == 7
    session = ix.get_session(chat)
    assert session is not None
    assert session.message_count == 7
    with pytest.raises(MessageNotFound):
        ix.delete_message("m-unknown")


def test_conversation_pairs(ix: Indexer, chat: str) -> None:
    pairs = ix.conversation_pairs(chat, limit=10)
    assert [(p.user.content, p.assistant.content) for p in pairs] == [
        ("message 0", "message 1"),
        ("message 2", "message 3"),
        ("message 5", "message 6"),
    ]
    latest = ix.conversation_pairs(chat, limit=2)
    assert [p.user.content for p in latest] == ["message 2", "message 5"]
    assert len(ix.conversation_pairs(limit=10)) == 3


def test_unknown_session(ix: Indexer) -> None:
    assert ix.get_session("nope") is None
    with pytest.raises(SessionNotFound):
        ix.get_messages("nope")
    with pytest.raises(SessionNotFound):
        ix.count_messages("nope")


def test_session_fields_and_derived_times(ix: Indexer) -> None:
    ix.append_message("s", "user", "a", created_at="2025-01-01T00:00:00.000Z")
    ix.append_message("s", "assistant", "b", created_at="2025-01-02T00:00:00.000Z")
    s = ix.get_session("s")
    assert s is not None
    assert s.message_count == 2
    assert s.created_at == "2025-01-01T00:00:00.000Z"
    assert s.updated_at == "2025-01-02T00:00:00.000Z"
    patched = ix.patch_session("s", title="New", status="idle", tags=["x"], metadata={"k": 1})
    assert (patched.title, patched.status, patched.tags, patched.metadata) == (
        "New",
        "idle",
        ("x",),
        {"k": 1},
    )
    assert patched.updated is not None
    assert patched.updated_at > "2025-01-02"
    patched = ix.patch_session("s", metadata={"k": None, "j": 2})
    assert patched.metadata == {"j": 2}


def test_list_sessions_filters_and_order(ix: Indexer) -> None:
    early = datetime(2025, 1, 1, tzinfo=UTC)
    ix.create_session("a", title="A", agent_id="x", channel="c1", created=early)
    ix.append_message("a", "user", "hi", created_at="2025-03-01T00:00:00.000Z")
    ix.create_session("b", title="B", agent_id="x", channel="c2", created=early)
    ix.append_message("b", "user", "hi", created_at="2025-04-01T00:00:00.000Z")
    ix.create_session("c", title="C", agent_id="y")
    ix.patch_session("c", status="archived")
    listed = [s.id for s in ix.list_sessions()]
    assert listed[-2:] == ["b", "a"]
    assert [s.id for s in ix.list_sessions(agent_id="x")] == ["b", "a"]
    assert [s.id for s in ix.list_sessions(agent_id="x", channel="c1")] == ["a"]
    assert [s.id for s in ix.list_sessions(status="archived")] == ["c"]
    assert [s.id for s in ix.list_sessions(updated_before="2025-03-15T00:00:00Z")] == ["a"]
    assert [s.id for s in ix.list_sessions(agent_id="x", updated_after="2025-03-15")] == ["b"]
    assert [s.id for s in ix.list_sessions(limit=1, offset=1)] == [listed[1]]
    with pytest.raises(InvalidInput):
        ix.list_sessions(colour="red")
    with pytest.raises(InvalidInput):
        ix.list_sessions(status="bogus")


def test_get_or_create_by_key(ix: Indexer) -> None:
    key = {"agent_id": "a", "channel": "slack", "account_id": "acc", "peer_kind": "dm"}
    first, created = ix.get_or_create_session(key)
    assert created
    assert (first.agent_id, first.channel, first.peer_id) == ("a", "slack", None)
    again, created = ix.get_or_create_session(dict(key))
    assert (again.id, created) == (first.id, False)
    other, created = ix.get_or_create_session({**key, "peer_id": "p"})
    assert created
    assert other.id != first.id
    with pytest.raises(InvalidInput):
        ix.get_or_create_session({})
    with pytest.raises(InvalidInput):
        ix.get_or_create_session({"colour": "red"})


def _race(root: str, barrier: mp.synchronize.Barrier, out: mp.Queue) -> None:  # type: ignore[type-arg]
    ix = Indexer(root, FAST).open()
    barrier.wait()
    session, created = ix.get_or_create_session({"agent_id": "racer", "channel": "c"})
    out.put((session.id, created))
    ix.close()


def test_get_or_create_races_across_processes(vault_root: Path, ix: Indexer) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_race, args=(str(vault_root), barrier, out)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert len({sid for sid, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    ix.reconcile()
    assert len(ix.list_sessions(agent_id="racer")) == 1


def test_copied_session_file_is_ambiguous(ix: Indexer) -> None:
    appended = ix.append_message("dup", "user", "copy me")
    copy = appended.path.with_name("session-copy.md")
    copy.write_bytes(appended.path.read_bytes())
    ix.reconcile()
    with pytest.raises(AmbiguousSession):
        ix.get_session("dup")
    assert ix.search("copy").total == 2


def test_a_session_the_index_has_not_seen_yet_is_caught_up_on_demand(
    vault: Vault, ix: Indexer
) -> None:
    # Written behind the index's back (another tool, or just after the index was deleted).
    vault.append_message("behind", "user", "written while the index was away")
    vault.append_message("behind", "assistant", "and a reply")
    record = ix.get_session("behind")
    assert record is not None and record.message_count == 2
    vault.append_message("later", "user", "one more")
    assert [m.content for m in ix.get_messages("later")] == ["one more"]
    vault.append_message("counted", "user", "x")
    assert ix.count_messages("counted") == 1
    assert ix.get_session("never-written") is None
    with pytest.raises(SessionNotFound):
        ix.get_messages("never-written")


def test_session_and_message_columns_are_named_once(ix: Indexer) -> None:
    """The column lists that inserts, dumps and records are built from match the DDL."""
    from indexer.records import SessionRecord
    from indexer.schema import MESSAGE_COLUMNS, SESSION_COLUMNS

    ix.open()
    with ix.mirror.read() as conn:
        sessions = [r[1] for r in conn.execute("PRAGMA table_info(sessions)")]
        messages = [r[1] for r in conn.execute("PRAGMA table_info(messages)")]
    assert tuple(sessions) == SESSION_COLUMNS
    assert tuple(m for m in messages if m != "pk") == MESSAGE_COLUMNS
    fields = [f for f in SessionRecord.__dataclass_fields__ if f != "path"]
    assert fields == list(SESSION_COLUMNS[1:])
