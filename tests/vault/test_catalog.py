"""The id catalogue on the append path: what a look-up re-reads, and what it still notices."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from vault import AmbiguousSession, Vault, lookup
from vault.catalog import Catalog

_OLD = time.time() - 3600  # an mtime that makes a folder settled at its first listing


def _settle(folder: Path) -> None:
    os.utime(folder, (_OLD, _OLD))


def _spread(vault: Vault, days: int) -> Path:
    """`days` settled day folders of one session each; returns the folder of the first."""
    for day in range(days):
        result = vault.append_message(f"day-{day}", "user", f"day {day}")
        folder = result.path.parent.with_name(f"2024-01-{day + 1:02d}")
        folder.mkdir()
        result.path.rename(folder / result.path.name)
        _settle(folder)
    _settle(result.path.parent)  # today's folder, now empty
    return vault.sessions_dir / "2024-01-01"


def _counting(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[object]:
    calls: list[object] = []
    real: Callable[..., object] = getattr(owner, name)

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args[-1] if args else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_our_own_append_does_not_make_the_catalogue_reread_the_head(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heads = _counting(monkeypatch, lookup, "head_id")
    vault = Vault(vault_root)
    vault.append_message("s", "user", "one")
    vault.append_message("s", "user", "two")
    before = len(heads)
    for n in range(5):
        vault.append_message("s", "assistant", f"more {n}")
    assert len(heads) == before
    assert len(vault.get("s").messages) == 7


def test_an_append_into_a_known_session_does_not_stat_every_settled_day_folder(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = Vault(vault_root)
    _spread(vault, 30)
    vault.append_message("day-3", "user", "warm")  # a full look: every folder is settled
    lstats = _counting(monkeypatch, os, "lstat")
    for n in range(10):
        vault.append_message("day-3", "user", f"again {n}")
    under = [str(p) for p in lstats if str(p).startswith(str(vault.sessions_dir))]
    assert len(under) < 10 * 5  # a sweep of every folder would be 10 x 31
    days = {p for p in under if Path(p).parent == vault.sessions_dir and "2024-" in p}
    assert len(days) <= 1  # at most the folder of day-3's own file


def test_an_editor_save_between_appends_is_followed(vault: Vault) -> None:
    _spread(vault, 5)
    first = vault.append_message("day-2", "user", "before the save")
    saved = first.path.read_bytes() + b"\nA note typed in the editor.\n"
    tmp = first.path.with_name(".editor.tmp")
    tmp.write_bytes(saved)
    tmp.replace(first.path)  # a new inode under the same name, in a settled folder
    after = vault.append_message("day-2", "user", "after the save")
    assert after.path == first.path
    data = first.path.read_bytes()
    assert data.startswith(saved)
    assert [m.content for m in vault.get("day-2").messages][-2:] == [
        "before the save",
        "after the save",
    ]


def test_a_file_moved_to_another_settled_folder_is_found_not_recreated(vault: Vault) -> None:
    _spread(vault, 5)
    first = vault.append_message("day-0", "user", "here")
    target = vault.sessions_dir / "2024-01-04" / first.path.name
    first.path.rename(target)  # moves the mtime of both folders
    moved = vault.append_message("day-0", "user", "there")
    assert moved.path == target and not moved.created_session
    assert [m.content for m in vault.get("day-0").messages] == ["day 0", "here", "there"]
    assert vault.session_ids()["day-0"] == [target]


def test_a_copy_in_a_settled_folder_is_ambiguous_after_the_quick_interval(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lookup, "_SWEEP_S", 0.05)
    _spread(vault, 3)
    first = vault.append_message("day-1", "user", "original")
    copy = vault.sessions_dir / "2024-01-03" / "session-20240103-000000-copy.md"
    shutil.copyfile(first.path, copy)  # into a folder settled at the last full look
    time.sleep(0.1)
    with pytest.raises(AmbiguousSession) as info:
        vault.append_message("day-1", "user", "which file?")
    assert sorted(info.value.paths) == sorted([first.path, copy])


def test_a_file_with_no_id_replaced_by_a_link_does_not_block_new_sessions(
    vault: Vault, tmp_path: Path
) -> None:
    # Found by make stress's hostile trees: junk under sessions/ (no id: the catalogue
    # watches it in case an editor is still writing it) became a link while the server ran,
    # and every new session was refused with SYMLINK_REFUSED.
    first = vault.append_message("known", "user", "hello")
    junk = first.path.parent / "z-2.md"
    junk.write_bytes(os.urandom(200))
    vault.append_message("known", "user", "the catalogue has read the junk")
    outside = tmp_path / "outside.md"
    outside.write_text("not ours\n")
    junk.unlink()
    junk.symlink_to(outside)
    created = vault.append_message("brand-new", "user", "a new session")
    assert created.path.parent == first.path.parent and created.path != junk
    assert outside.read_text() == "not ours\n" and junk.is_symlink()


def test_a_file_seen_while_being_written_is_read_again_at_the_next_hit(vault: Vault) -> None:
    """A file listed while still empty (an editor or a copy mid-write) is re-read at the
    next look-up once it has bytes, even one that finds the session at once: a second
    file claiming the id is `AmbiguousSession`, not ignored while appends go to one file
    (the vim storm appended to a duplicate for 700 messages unnoticed)."""
    first = vault.append_message("watched", "user", "one")
    copy = first.path.with_name("session-20240101-000000-copy.md")
    with open(copy, "wb") as f:
        vault.append_message("watched", "user", "two")  # lists the copy, still empty
        f.write(first.path.read_bytes())
    with pytest.raises(AmbiguousSession) as info:
        vault.append_message("watched", "user", "which file?")
    assert sorted(info.value.paths) == sorted([first.path, copy])


def _one_file(tmp_path: Path, data: bytes) -> tuple[Catalog, Path]:
    """A catalogue over one folder of one file, listed (an empty file has no id, else `s`)."""
    folder = tmp_path / "day"
    folder.mkdir()
    session_file = folder / "a.md"
    session_file.write_bytes(data)
    cat = Catalog(lambda p: "s" if p.read_bytes() else None, lambda n: n.endswith(".md"))
    cat.refresh([folder], deep=True)
    return cat, session_file


def test_a_vanished_file_whose_id_was_never_read_makes_a_miss_wait(tmp_path: Path) -> None:
    """vim: the new file is read while still empty (id unknown), then renamed away by the
    next save; a miss in that moment must wait, not create a second file for the id."""
    cat, session_file = _one_file(tmp_path, b"")  # an editor mid-write
    assert cat.paths_for("s") == []
    session_file.unlink()  # renamed away by the next save
    cat.refresh([session_file.parent], deep=True)
    assert cat.unsettled("s") == session_file


def test_a_file_with_no_id_yet_that_vanishes_before_the_wait_looks_makes_a_miss_wait(
    tmp_path: Path,
) -> None:
    """The same, the file renamed away after the miss's last listing: the miss's re-check
    must remember it as vanished (it may be this session's), not drop it silently and let
    the caller create a second file."""
    cat, session_file = _one_file(tmp_path, b"")
    assert cat.paths_for("s") == []
    session_file.rename(session_file.with_name("a.md~"))  # seen first by the re-check
    assert cat.unsettled("s") == session_file
    assert cat.unsettled("other") == session_file  # its id was never read: any id waits


def test_a_session_file_found_without_its_id_keeps_a_miss_waiting(tmp_path: Path) -> None:
    """An in-place save seen mid-way (the file of `s` truncated): a miss for `s` waits
    even if the empty file's mtime is old, as the file's id was just lost."""
    cat, session_file = _one_file(tmp_path, b"s")
    assert cat.paths_for("s") == [session_file]
    session_file.write_bytes(b"")
    os.utime(session_file, (_OLD, _OLD))
    assert cat.paths_for("s") == []
    assert cat.unsettled("s") == session_file
    assert cat.unsettled("other") is None  # it held `s`, no other id


def test_a_file_with_no_id_dated_in_the_future_does_not_hold_up_new_sessions(
    vault: Vault,
) -> None:
    """A file without an id counts as being written (a miss waits, then is CONFLICT) only
    if written in the last 2 s; one whose mtime is far ahead of the clock (an archive from
    a skewed machine) is not being written, and a new session is created at once."""
    first = vault.append_message("known", "user", "hello")
    junk = first.path.parent / "notes.md"
    junk.write_bytes(b"no frontmatter here\n")
    ahead = time.time() + 3600
    os.utime(junk, (ahead, ahead))
    vault.append_message("known", "user", "the catalogue has read the junk")
    created = vault.append_message("brand-new", "user", "a new session")
    assert created.created_session and created.path != junk
