"""The ack journal: a message an outside save removed is reported and can be restored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vault import Vault

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
