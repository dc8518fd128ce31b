"""The ack journal: a message an outside save removed is reported and can be restored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vault import InvalidInput, Vault, catalog, files, lookup

# A process that deletes a message and is killed (os._exit, no cleanup) the moment the
# rewritten session file is in place, before delete_message returns.
KILLED_AFTER_REWRITE = """
import os, sys
from vault import Vault, files
real = files.write_atomic
def write_then_die(*args, **kwargs):
    real(*args, **kwargs)
    os._exit(9)
files.write_atomic = write_then_die
Vault(sys.argv[1]).delete_message("k", sys.argv[2])
"""


def test_stale_editor_save_is_reported_and_restorable(vault: Vault) -> None:
    vault.append_message("j", "user", "one")
    path = vault.locate("j")
    stale_buffer = path.read_bytes()  # an editor opens the file here
    lost = vault.append_message("j", "assistant", "acknowledged while the editor was open")
    third = vault.append_message("j", "user", "three")
    path.write_bytes(stale_buffer)  # ...and saves its stale copy over our appends
    missing = vault.acked_missing()
    assert {e.message.id for e in missing} == {lost.message.id, third.message.id}
    assert lost.message.id in {e.message.id for e in missing}
    vault.restore_acked(lost.message.id)
    assert lost.message.id in {m.id for m in vault.get("j").messages}
    restored = next(m for m in vault.get("j").messages if m.id == lost.message.id)
    assert restored.content == "acknowledged while the editor was open"
    assert restored.created_at == lost.message.created_at
    assert lost.message.id not in {e.message.id for e in vault.acked_missing()}


def test_many_lost_messages_of_a_session_are_restored_in_one_rewrite(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vim storm lost ~600 acknowledged messages to stale saves; restoring them one
    rewrite each (the whole file rewritten and fsynced 600 times) took over a minute.
    Consecutive ids of one session go back in one rewrite, each in its place by time,
    with the positions they would have had restored one at a time; a refused id stops
    the run after those before it are restored."""
    path = vault.append_message("many", "user", "kept 0").path
    stale = path.read_bytes()
    lost = [vault.append_message("many", "assistant", f"lost {n}").message for n in range(6)]
    kept = vault.append_message("many", "user", "kept 1").message
    data = path.read_bytes()
    path.write_bytes(stale + data[data.index(b"<!-- cam:msg id=" + kept.id.encode()) - 1 :])
    writes: list[Path] = []
    real = files.write_atomic

    def counted(target: Path, data: bytes) -> files.FileState:
        writes.append(target)
        return real(target, data)

    monkeypatch.setattr(files, "write_atomic", counted)
    order = [lost[3], lost[1], lost[0], lost[5]]
    done = list(vault.restore_acked_many([m.id for m in order]))
    assert len(writes) == 1
    assert done == [
        (lost[3].id, "many", 1),
        (lost[1].id, "many", 1),
        (lost[0].id, "many", 1),
        (lost[5].id, "many", 4),
    ]
    contents = [m.content for m in vault.get("many").messages]
    assert contents == ["kept 0", "lost 0", "lost 1", "lost 3", "lost 5", "kept 1"]
    with pytest.raises(InvalidInput):
        list(vault.restore_acked_many([lost[2].id, lost[1].id, lost[4].id]))
    contents = [m.content for m in vault.get("many").messages]
    assert contents == ["kept 0", "lost 0", "lost 1", "lost 2", "lost 3", "lost 5", "kept 1"]
    assert len(writes) == 2
    assert [e.message.id for e in vault.acked_missing()] == [lost[4].id]


def test_a_session_two_files_claim_reports_only_what_neither_holds(vault: Vault) -> None:
    """Two files claiming one id (the vim storm's duplicate, or a copy): a message in
    either is not lost, so only what neither holds is `acked_missing` (it was every
    message of the session, and `restore` then failed on AMBIGUOUS)."""
    first = vault.append_message("twice", "user", "one")
    vault.append_message("twice", "assistant", "two")
    stale = first.path.read_bytes()
    third = vault.append_message("twice", "user", "three")
    copy = first.path.with_name("session-20990101-000000-copy.md")
    copy.write_bytes(first.path.read_bytes())  # the second file holds all three
    first.path.write_bytes(stale)  # a stale save: "three" only in the copy
    assert vault.acked_missing() == []
    copy.write_bytes(stale)  # now neither file holds "three"
    assert [e.message.id for e in vault.acked_missing()] == [third.message.id]


def test_a_session_being_saved_is_not_reported_as_lost(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While vim's save has the file renamed away (and stalls past the wait), the session
    cannot be read: its messages are not all reported missing, it is asked again later."""
    monkeypatch.setattr(lookup, "SAVE_WAITS", (0.01,) * 4)
    monkeypatch.setattr(catalog, "_HOT_NS", 20_000_000)
    path = vault.append_message("saving", "user", "one").path
    os.replace(path, path.with_name(path.name + "~"))
    assert vault.acked_missing() == []
    os.replace(path.with_name(path.name + "~"), path)
    assert vault.acked_missing() == []


def test_deletions_through_the_vault_are_not_reported(vault: Vault) -> None:
    a = vault.append_message("k", "user", "one")
    vault.append_message("k", "user", "two")
    vault.delete_message("k", a.message.id)
    assert vault.acked_missing() == []
    vault.delete("k")
    assert vault.acked_missing() == []


def test_a_kill_right_after_the_delete_rewrite_does_not_resurrect_the_message(
    vault: Vault, tmp_path: Path
) -> None:
    kept = vault.append_message("k", "user", "kept")
    gone = vault.append_message("k", "user", "deleted, then the process is killed")
    died = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_REWRITE, str(vault.root), gone.message.id],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert died.returncode == 9, died.stderr
    assert [m.id for m in vault.get("k").messages] == [kept.message.id]
    assert vault.acked_missing() == []  # before the fix: the deleted message, restorable


def test_journal_is_private(vault: Vault) -> None:
    vault.append_message("p", "user", "secret")
    files = list((vault.dir / "journal").glob("*.jsonl"))
    assert files
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
