"""Nothing leaves the vault: traversal, symlinks, hostile YAML."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from vault import InvalidInput, MalformedSessionFile, SymlinkRefused, Vault, loads
from vault.errors import DirectoryCreationError
from vault.files import open_folder

TRAVERSALS = [
    "../escape",
    "../../etc/passwd",
    "..\\..\\windows",
    "/etc/passwd",
    "x\x00y",
    "%2e%2e%2f",
    "．．／．．／",
    "a\u2024\u2024b",
    "\u202eevil",
    "CON",
    "vault-evil/../..",
    "x" * 10_000,
]


def outside_snapshot(root: Path) -> set[Path]:
    return {p for p in root.parent.rglob("*") if ".codearchitect" not in p.parts}


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_traversal_in_topic_stays_inside(vault: Vault, vault_root: Path, bad: str) -> None:
    before = outside_snapshot(vault_root)
    try:
        stored = vault.store_session("User: hi", topic=bad)
    except InvalidInput:
        pass
    else:
        assert stored.path.parent.parent == vault.sessions_dir
        assert os.path.commonpath([stored.path.resolve(), vault.sessions_dir.resolve()]) == str(
            vault.sessions_dir.resolve()
        )
        assert stored.path.name.startswith("session-")
    assert outside_snapshot(vault_root) == before


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_traversal_in_session_id_is_refused_or_kept_as_data(
    vault: Vault, vault_root: Path, bad: str
) -> None:
    before = outside_snapshot(vault_root)
    try:
        result = vault.append_message(bad, "user", "hi")
    except InvalidInput:
        pass
    else:
        # An accepted id is data in the frontmatter, never part of a path.
        assert result.path.parent.parent == vault.sessions_dir
        assert vault.get(bad).id == bad
    assert outside_snapshot(vault_root) == before


def test_symlinked_date_folder_is_refused(vault: Vault, tmp_path: Path, frozen_clock) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    vault.init()
    (vault.sessions_dir / "2025-01-15").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SymlinkRefused) as info:
        vault.store_session("User: hi", topic="t")
    assert info.value.code == "SYMLINK_REFUSED"
    assert list(outside.iterdir()) == []


def test_symlinked_session_file_is_never_read_or_written(vault: Vault, tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("---\nid: stolen\ncreated: '2025-01-15T14:30:22.123Z'\n---\nTOP SECRET\n")
    before = secret.read_bytes()
    vault.append_message("real", "user", "hi")
    folder = vault.locate("real").parent
    (folder / "session-20250101-000000-link.md").symlink_to(secret)
    assert "stolen" not in vault.session_ids()
    # A write to that id creates a real session instead of following the link.
    vault.append_message("stolen", "user", "new")
    assert secret.read_bytes() == before
    assert not vault.locate("stolen").is_symlink()


def test_symlinked_vault_folder_is_refused(vault_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (vault_root / ".codearchitect").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SymlinkRefused):
        Vault(vault_root).store_session("User: hi", topic="t")
    assert list(outside.iterdir()) == []


def test_python_tags_are_never_executed(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    text = f"---\nid: !!python/object/apply:os.system ['touch {sentinel}']\ncreated: x\n---\n"
    with pytest.raises(MalformedSessionFile):
        loads(text)
    assert not sentinel.exists()


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(
            f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]"
        )
    text = "---\nid: s\ncreated: x\n" + "\n".join(lines) + "\n---\n"
    with pytest.raises(MalformedSessionFile, match=r"anchors|aliases"):
        loads(text)


def test_huge_frontmatter_is_refused() -> None:
    text = "---\nid: s\ncreated: x\nblob: '" + "x" * (5 * 1024 * 1024) + "'\n---\n"
    with pytest.raises(MalformedSessionFile, match="64 KB"):
        loads(text)


def test_invalid_utf8_is_malformed_not_a_crash() -> None:
    data = b"---\nid: s\ncreated: x\n---\n<!-- cam:msg role=user -->\n\xff\xfe\n<!-- /cam:msg -->\n"
    with pytest.raises(MalformedSessionFile, match="UTF-8") as info:
        loads(data)
    assert info.value.line == 6
    with pytest.raises(MalformedSessionFile, match="UTF-8"):
        loads(b"---\nid: \xff\n---\n")


# ---------------------------------------------------------------- open_folder's errors name
# the whole path (it makes that path only when it raises: it runs for every file a rebuild
# reads, several times).


def test_open_folder_names_the_linked_folder_in_full(tmp_path: Path) -> None:
    sessions = tmp_path / ".codearchitect" / "sessions"
    sessions.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (sessions / "2025-01-15").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SymlinkRefused) as info:
        open_folder(sessions / "2025-01-15" / "deeper", create=True)
    assert str(sessions / "2025-01-15") in str(info.value)
    assert list(outside.iterdir()) == []


def test_open_folder_names_a_file_where_a_folder_should_be(tmp_path: Path) -> None:
    sessions = tmp_path / ".codearchitect" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "2025-01-15").write_text("not a folder")
    with pytest.raises(FileNotFoundError) as missing:
        open_folder(sessions / "2025-01-15")
    assert missing.value.filename == str(sessions / "2025-01-15")
    with pytest.raises(DirectoryCreationError) as info:
        open_folder(sessions / "2025-01-15", create=True)
    assert info.value.path == sessions / "2025-01-15"
    assert (sessions / "2025-01-15").read_text() == "not a folder"


def test_open_folder_logs_the_planted_file_it_replaces(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vault_dir = tmp_path / ".codearchitect"
    vault_dir.mkdir()
    (vault_dir / "index").write_text("planted")
    with caplog.at_level(logging.WARNING, logger="codearchitect.vault.files"):
        os.close(
            open_folder(vault_dir / "index" / "fulltext", create=True, replace_below=vault_dir)
        )
    assert (vault_dir / "index" / "fulltext").is_dir()
    assert f"replaced a planted file at {vault_dir / 'index'} by a folder" in caplog.text


def test_open_folder_of_a_relative_vault_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    os.close(open_folder(Path(".codearchitect") / "sessions", create=True))
    assert (tmp_path / ".codearchitect" / "sessions").is_dir()
    (tmp_path / "outside").mkdir()
    (tmp_path / ".codearchitect" / "sessions" / "day").symlink_to(tmp_path / "outside")
    with pytest.raises(SymlinkRefused) as info:
        open_folder(Path(".codearchitect") / "sessions" / "day")
    assert str(Path(".codearchitect") / "sessions" / "day") in str(info.value)
