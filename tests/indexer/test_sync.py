"""Reconcile, rebuild and hand edits, with real files, SQLite and tantivy."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from indexer import Indexer
from indexer.dump import expected_dump
from indexer.errors import IndexUnavailable
from indexer.mirror import Mirror
from vault import SessionNotFound, Vault, lookup

from .conftest import FAST, session_text, wait_until

QUERIES = ["token", "refresh OR deploy", '"clean the cache"', "cach*", "-token", "sess-0001"]


def answers(ix: Indexer) -> list[list[tuple[str, str]]]:
    out = []
    for q in QUERIES:
        hits = ix.search(q, limit=50).hits
        out.append(sorted((h.session_id, h.message_id) for h in hits))
    return out


def seed(ix: Indexer) -> None:
    ix.append_message("a", "user", "refresh the token please")
    ix.append_message("a", "assistant", "token refreshed; clean the cache too")
    ix.append_message("b", "user", "deploy sess-0001 now")
    ix.store_session([{"role": "user", "content": "stored conversation about tokens"}], "topic")


def test_reconcile_sees_hand_edits_adds_and_deletes(vault: Vault, ix: Indexer) -> None:
    seed(ix)
    day = vault.sessions_dir / "2025-01-15"
    day.mkdir()
    (day / "session-hand.md").write_text(
        session_text("hand", "Hand", ("h1", "user", "2025-01-15T10:00:01.000Z", "typed by hand"))
    )
    path = ix.vault.locate("a")
    path.write_text(path.read_text().replace("refresh the token", "renew the key"))
    ix.vault.locate("b").unlink()
    report = ix.reconcile()
    assert (report.added, report.updated, report.removed) == (1, 1, 1)
    assert ix.dump() == expected_dump(vault)
    assert ix.search("typed").total == 1
    assert ix.search("renew").total == 1
    assert ix.search("sess-0001").total == 0
    assert ix.reconcile().changed == 0


def test_malformed_file_is_reported_and_others_indexed(vault: Vault, ix: Indexer) -> None:
    seed(ix)
    day = vault.sessions_dir / "2025-01-15"
    day.mkdir()
    bad = day / "session-bad.md"
    bad.write_text("---\nid: [unclosed\n---\n")
    report = ix.reconcile()
    assert report.malformed == 1
    status = ix.status()
    assert [m.path for m in status.malformed] == ["2025-01-15/session-bad.md"]
    assert status.malformed[0].reason
    assert status.files_on_disk == 4
    assert status.files_indexed == 3
    assert ix.search("token").total >= 2
    bad.write_text(session_text("fixed", "Fixed", ("f1", "user", "2025-01-15T10:00:00Z", "ok")))
    ix.reconcile()
    assert ix.status().malformed == ()
    assert ix.get_session("fixed") is not None


def test_symlinked_session_file_is_refused(vault: Vault, ix: Indexer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text(
        session_text("s", "Secret", ("x1", "user", "2025-01-15T10:00:00Z", "hunter2"))
    )
    day = vault.sessions_dir / "2025-01-15"
    day.mkdir()
    (day / "session-link.md").symlink_to(secret)
    ix.reconcile()
    assert ix.search("hunter2").total == 0
    assert [m.path for m in ix.status().malformed] == ["2025-01-15/session-link.md"]


def test_rebuild_after_deleting_the_index_gives_the_same_answers(vault: Vault) -> None:
    with Indexer(vault, FAST) as ix:
        seed(ix)
        ix.flush()
        before, dump = answers(ix), ix.dump()
    shutil.rmtree(vault.index_dir)
    with Indexer(vault, FAST) as ix:
        assert ix.created
        seen: list[tuple[str, int, int]] = []
        ix.rebuild(lambda phase, done, total: seen.append((phase, done, total)))
        assert answers(ix) == before
        assert ix.dump() == dump
        assert ("read", 3, 3) in seen
        assert seen[-1] == ("fulltext", 1, 1)
        again = answers(ix)
        ix.rebuild()
        assert answers(ix) == again


def test_schema_version_change_rebuilds(vault: Vault) -> None:
    with Indexer(vault, FAST) as ix:
        seed(ix)
    db = vault.index_dir / "mirror.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with Indexer(vault, FAST) as ix:
        assert ix.created
        assert ix.count_messages() == 0
        ix.reconcile()
        assert ix.count_messages() == 4
        assert ix.dump() == expected_dump(vault)


def test_corrupt_database_is_replaced(vault: Vault) -> None:
    vault.index_dir.mkdir(parents=True, exist_ok=True)
    (vault.index_dir / "mirror.sqlite3").write_bytes(b"this is not a database" * 100)
    with Indexer(vault, FAST) as ix:
        assert ix.created
        ix.append_message("x", "user", "fine")
        assert ix.count_messages() == 1


def test_own_append_is_verified_by_hash_without_changes(vault: Vault, ix: Indexer) -> None:
    for n in range(5):
        ix.append_message("big", "user", f"line {n}")
    conn = ix.mirror.conn()
    assert conn.execute("SELECT hash FROM files").fetchone()[0] is None
    report = ix.reconcile()
    assert report.changed == 0
    assert conn.execute("SELECT hash FROM files").fetchone()[0] is not None
    assert (
        conn.execute("SELECT count(*) FROM fulltext_queue WHERE kind = 'file'").fetchone()[0] <= 1
    )
    # a hand edit inside the known prefix forces a full parse
    path = vault.locate("big")
    path.write_bytes(path.read_bytes().replace(b"line 1", b"LINE 1"))
    ix.reconcile()
    assert ix.dump() == expected_dump(vault)


def test_same_size_edit_right_after_indexing_is_not_missed(vault: Vault, ix: Indexer) -> None:
    ix.append_message("r", "user", "alpha")
    ix.reconcile()
    path = vault.locate("r")
    st = path.stat()
    path.write_bytes(path.read_bytes().replace(b"alpha", b"gamma"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime
    ix.reconcile()  # the row is racy (indexed within RACY_NS of its mtime): hash compared
    assert ix.search("gamma").total == 1


def test_stale_temp_files_are_swept(vault: Vault, ix: Indexer) -> None:
    ix.append_message("t", "user", "x")
    folder = vault.locate("t").parent
    old = folder / ".~cam-abc.tmp"
    young = folder / ".~cam-def.tmp"
    old.write_text("junk")
    young.write_text("junk")
    past = time.time() - 3600
    os.utime(old, (past, past))
    assert ix.syncer.sweep_temp_files(900) == 1
    assert not old.exists()
    assert young.exists()


def test_status_counts(vault: Vault, ix: Indexer) -> None:
    seed(ix)
    status = ix.status()
    assert (status.files_on_disk, status.files_indexed, status.sessions, status.messages) == (
        3,
        3,
        3,
        4,
    )
    assert status.fulltext_pending > 0
    ix.flush()
    status = ix.status()
    assert (status.fulltext_pending, status.fulltext_documents) == (0, 4)
    assert status.to_dict()["malformed"] == []


def _damage_pages(db: Path) -> None:
    data = bytearray(db.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 3 * 4096):
        data[i] = 0xA5
    db.write_bytes(bytes(data))


def test_a_damaged_page_is_found_by_a_query_then_checked_and_replaced_at_the_next_open(
    vault: Vault,
) -> None:
    with Indexer(vault, FAST) as ix:
        for n in range(400):
            ix.append_message(f"s{n % 20}", "user", f"message {n} " + "padding " * 40)
        ix.flush()
        dump = ix.dump()
    db = vault.index_dir / "mirror.sqlite3"
    _damage_pages(db)
    ix = Indexer(vault, FAST).open()  # a one-shot command does not read the whole file
    try:
        assert not ix.created
        with pytest.raises(IndexUnavailable):  # reading every message meets the damage
            for n in range(20):
                ix.get_messages(f"s{n}", limit=1000)
    finally:
        ix.close()
    assert Path(f"{db}.check").exists()
    with Indexer(vault, FAST) as ix:  # the marker makes this open check, and recreate
        assert ix.created
        assert not Path(f"{db}.check").exists()
        ix.reconcile()
        assert ix.dump() == dump
    assert list(vault.index_dir.glob("mirror.sqlite3.corrupt-*"))


def test_a_started_indexer_checks_the_whole_mirror(vault: Vault) -> None:
    with Indexer(vault, FAST) as ix:
        for n in range(400):
            ix.append_message(f"s{n % 20}", "user", f"message {n} " + "padding " * 40)
    _damage_pages(vault.index_dir / "mirror.sqlite3")
    ix = Indexer(vault, FAST).start()
    try:
        assert wait_until(lambda: ix.checked, timeout=30)
        # the damaged file was moved aside, and a new mirror read from the files
        assert list(vault.index_dir.glob("mirror.sqlite3.corrupt-*"))
        assert wait_until(lambda: _count_or_none(ix) == 400, timeout=30)
    finally:
        ix.close()


def _count_or_none(ix: Indexer) -> int | None:
    try:
        return ix.count_messages()
    except IndexUnavailable:  # met the damage before the repair: the next call follows
        return None


def test_the_start_check_runs_in_the_background_and_calls_do_not_wait_for_it(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Indexer(vault, FAST) as ix:
        ix.append_message("s", "user", "written before the start")
    # A fault: the whole-file check is held (a slow disk), until the test lets it go.
    release, entered = threading.Event(), threading.Event()
    repair = Mirror.repair

    def held(self: Mirror) -> Path | None:
        entered.set()
        assert release.wait(60)
        return repair(self)

    monkeypatch.setattr(Mirror, "repair", held)
    ix = Indexer(vault, FAST).start()  # returns while the check is held
    try:
        assert entered.wait(30) and not ix.checked
        assert ix.search("written").total == 1  # calls are answered meanwhile
        stored = ix.append_message("s", "user", "a zebra came during the check")
        assert stored is not None and ix.search("zebra").total == 1
        release.set()
        assert wait_until(lambda: ix.checked, timeout=30)
        assert not list(vault.index_dir.glob("mirror.sqlite3.corrupt-*"))  # it was sound
    finally:
        release.set()
        ix.close()


def test_the_first_lookup_of_a_process_reads_only_heads_the_mirror_cannot_vouch_for(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Indexer(vault, FAST) as ix:
        for n in range(30):
            ix.append_message(f"s{n}", "user", f"message {n}")
        time.sleep(0.06)  # past RACY_NS, so the rows are certain
        ix.reconcile()
        renamed = vault.locate("s7")
    text = renamed.read_text()
    renamed.write_text(text.replace("id: s7", "id: s7-by-hand"))
    heads: list[Path] = []
    real = lookup.head_id

    def counted(path: Path) -> str | None:
        heads.append(path)
        return real(path)

    monkeypatch.setattr(lookup, "head_id", counted)
    with Indexer(Vault(vault.root), FAST) as ix:  # a fresh process's vault catalogue
        ix.append_message("s3", "user", "first write of this process")
        assert heads == []  # not 30: the mirror vouched for every file's id
        assert ix.vault.locate("s7-by-hand") == renamed  # its state moved: its head is read
        assert heads == [renamed]
        with pytest.raises(SessionNotFound):
            ix.vault.locate("s7")
        assert len(ix.get_messages("s3")) == 2


def test_answers_are_stale_until_the_first_reconcile(tmp_path: Path) -> None:
    """Issue 14 item 10c: an index that has not read the files yet never answers a
    confident 0 (search and count say stale until a reconcile has finished)."""
    vault = Vault(tmp_path / "project")
    for n in range(3):
        vault.append_message(f"s{n}", "user", f"lighthouse keeper number {n}")
    with Indexer(vault, FAST) as ix:  # opened, not started: nothing read yet
        before = ix.search("lighthouse")
        assert before.hits == () and before.stale
        assert ix.catching_up()
        ix.reconcile()
        after = ix.search("lighthouse")
        assert len(after.hits) == 3 and not after.stale
        assert not ix.catching_up()
    with Indexer(vault, FAST) as again:  # the reconcile is remembered by the mirror
        assert not again.catching_up()
        assert not again.search("lighthouse").stale
