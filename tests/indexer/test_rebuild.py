"""A rebuild feeds tantivy while it reads (leader), keeps what others write meanwhile, and
leaves a state the next absorption repairs if it fails half way."""

from __future__ import annotations

import json
import multiprocessing as mp
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tantivy

from indexer import Indexer
from indexer.dump import expected_dump
from indexer.errors import IndexUnavailable
from indexer.fulltext import FullText
from indexer.mirror import get_state
from tests.helpers.polling import PATIENCE
from vault import Vault

from .conftest import FAST

SESSIONS = 150  # more than one batch of files (sync._BATCH_FILES)
PER_SESSION = 6


def fill(vault: Vault) -> None:
    for n in range(SESSIONS):
        turns = [
            {"role": "user" if i % 2 == 0 else "assistant", "content": f"common s{n}m{i} word{i}"}
            for i in range(PER_SESSION)
        ]
        vault.store_session(turns, f"topic {n}")


def test_rebuild_feeds_tantivy_in_batches_and_gives_the_same_answers(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(vault)
    with Indexer(vault, FAST) as ix:
        ix.reconcile()
        ix.flush()
        before = sorted((h.session_id, h.message_id) for h in ix.search("word3", limit=500).hits)
        dump = ix.dump()
    assert len(before) == SESSIONS
    feeds: list[int] = []
    add_rows = FullText._add_rows

    def counting(self: FullText, writer: Any, rows: Iterable[tuple[Any, ...]]) -> None:
        rows = list(rows)
        feeds.append(len(rows))
        add_rows(self, writer, rows)

    monkeypatch.setattr(FullText, "_add_rows", counting)
    with Indexer(vault, FAST) as ix:
        report = ix.rebuild()
        assert report.added == SESSIONS
        # Fed per batch of files as they were written, not re-selected from SQLite after.
        assert len(feeds) >= 3
        assert sum(feeds) == SESSIONS * PER_SESSION
        assert sorted((h.session_id, h.message_id) for h in ix.search("word3", limit=500).hits) == (
            before
        )
        assert ix.dump() == dump
        status = ix.status()
        assert (status.fulltext_pending, status.fulltext_documents) == (0, SESSIONS * PER_SESSION)


def _write(root: str, count: int, started: Any) -> None:
    ix = Indexer(root, FAST).open()
    started.set()
    try:
        for i in range(count):
            ix.append_message("during", "user", f"concurrent{i} written during the rebuild")
    finally:
        ix.close()


def test_writes_from_another_process_during_a_rebuild_are_kept(vault: Vault) -> None:
    fill(vault)
    count = 60
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    writer = ctx.Process(target=_write, args=(str(vault.root), count, started))
    with Indexer(vault, FAST) as ix:
        ix.reconcile()
        ix.flush()
        writer.start()
        assert started.wait(60)
        ix.rebuild()
        writer.join(60)
        assert writer.exitcode == 0
        # No reconcile: what the writer put in the mirror was queued for tantivy after the
        # rebuild's 'all' entry, or read by the rebuild itself.
        assert ix.flush(30)
        assert ix.dump() == expected_dump(vault)
        assert ix.search("concurrent*", limit=500).total == count
        assert ix.status().fulltext_documents == SESSIONS * PER_SESSION + count


def test_a_rebuild_that_fails_half_way_is_repaired_by_the_next_absorption(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(vault)
    calls = 0
    add_rows = FullText._add_rows

    def failing(self: FullText, writer: Any, rows: Iterable[tuple[Any, ...]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("injected: tantivy failed mid-rebuild")
        add_rows(self, writer, rows)

    with Indexer(vault, FAST) as ix:
        ix.reconcile()
        ix.flush()
        dump = ix.dump()
        monkeypatch.setattr(FullText, "_add_rows", failing)
        with pytest.raises(IndexUnavailable):
            ix.rebuild()
        monkeypatch.setattr(FullText, "_add_rows", add_rows)
        with ix.mirror.read() as conn:
            queued = [r[0] for r in conn.execute("SELECT kind FROM fulltext_queue")]
        assert "all" in queued
    with Indexer(vault, FAST) as ix:
        ix.reconcile()  # the mirror holds only what was read before the failure
        assert ix.flush(30)
        assert ix.dump() == dump
        assert ix.search("word3", limit=500).total == SESSIONS
        with ix.mirror.read() as conn:
            assert int(get_state(conn, "fulltext_seq")) > 0
        assert ix.status().fulltext_documents == SESSIONS * PER_SESSION


def test_a_rebuild_while_another_process_leads_queues_one_all_entry(vault: Vault) -> None:
    fill(vault)
    leader = Indexer(vault, FAST).start()
    try:
        assert leader.is_leader
        leader.flush()
        with Indexer(vault, FAST) as ix:
            ix.rebuild()  # cannot lead: the leader absorbs the 'all' entry
            assert not ix.is_leader
            assert ix.status().fulltext_pending == 0
            assert ix.search("word3", limit=500).total == SESSIONS
            assert ix.dump() == expected_dump(vault)
    finally:
        leader.close()


def _small(vault: Vault) -> dict[str, int]:
    """A few sessions, indexed and absorbed; the hit counts of some queries."""
    for n in range(4):
        vault.store_session(f"User: c++ templates {n}\nAI: jwt rotation {n}", f"topic {n}")
    with Indexer(vault, FAST) as ix:
        ix.reconcile()
        assert ix.flush(PATIENCE)
        return {q: ix.search(q).total for q in QUERIES}


QUERIES = ("c++", "jwt -oauth", "rota*", "templates")


def test_a_lost_fulltext_index_is_answered_from_the_mirror(vault: Vault) -> None:
    """Found while chasing test_rebuild[tantivy_meta_lost]: with `fulltext/meta.json` gone
    and no leader yet to recreate it, a search answered "no hits" as if nothing matched.
    It now answers from the mirror, as during a rebuild."""
    expected = _small(vault)
    assert all(expected.values())
    (vault.index_dir / "fulltext" / "meta.json").unlink()
    with Indexer(vault, FAST) as ix:  # not started: nobody recreates the index
        assert {q: ix.search(q).total for q in QUERIES} == expected


def test_a_search_while_the_leader_recreates_the_index_is_never_empty(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader recreating a lost index queues the rebuild before it replaces the
    folder: a search at that moment (another process) answers from the mirror. It used
    to create the new, empty index first, and a search in between found nothing."""
    expected = _small(vault)
    (vault.index_dir / "fulltext" / "meta.json").unlink()
    seen: list[dict[str, int]] = []
    real_index = tantivy.Index

    def probe(*args: Any, **kwargs: Any) -> Any:
        made = real_index(*args, **kwargs)
        if len(args) > 1 and not seen:  # the on-disk index, just made (the overlay's: RAM)
            seen.append({})
            with Indexer(vault, FAST) as reader:
                seen[0] = {q: reader.search(q).total for q in QUERIES}
        return made

    monkeypatch.setattr(tantivy, "Index", probe)
    leader = Indexer(vault, FAST).start()
    try:
        monkeypatch.undo()
        assert seen and all(s == expected for s in seen), seen
        assert leader.flush(PATIENCE)
        assert {q: leader.search(q).total for q in QUERIES} == expected
    finally:
        leader.close()


def test_a_message_document_holds_every_field(tmp_path: Path) -> None:
    """What a message's tantivy document holds (a rebuild makes one per message, field by
    field): its identity, text with its tool calls, title, heading, session keys, times."""
    fulltext = FullText(tmp_path / "fulltext")
    metadata = json.dumps({"toolCalls": [{"name": "Bash", "arguments": {"command": "ls -la"}}]})
    keys = ("agent-1", "cli", None, None, "peer-9")
    row: tuple[object, ...] = (7, "m1", "s1", "assistant", "Running it.", metadata)
    row += (
        "2026-01-02T03:04:05.678Z",
        "Deploy notes",
        *keys,
        "deploy-staging",
        "How do we deploy?",
    )
    assert fulltext._doc(row).to_dict() == {
        "key": ["7/m1"],
        "file": ["7"],
        "message_id": ["m1"],
        "session_id": ["s1"],
        "role": ["assistant"],
        "content": ["Running it.\nBash: ls -la"],
        "tool": ["bash"],
        "title": ["Deploy notes"],
        "heading": ["notes staging"],
        "created_at": ["2026-01-02T03:04:05.678Z"],
        "created": [datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)],
        "agent_id": ["agent-1"],
        "channel": ["cli"],
        "peer_id": ["peer-9"],
    }
    plain = (8, "m2", "s2", "user", "hi", "{}", "not a time", "T", *(None,) * 5, None, "hi")
    assert fulltext._doc(plain).to_dict() == {
        "key": ["8/m2"],
        "file": ["8"],
        "message_id": ["m2"],
        "session_id": ["s2"],
        "role": ["user"],
        "content": ["hi"],
        "title": ["T"],
        "heading": ["t"],
        "created_at": ["not a time"],
    }
