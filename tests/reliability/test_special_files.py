"""Special and unreadable files named `*.md`, and folders swapped for links at run time
(issue 14, items 6 and 7; RELIABILITY.md scenarios 19 and 26).

Only regular files are session files. A FIFO, a socket or a folder named `*.md`, or a file
that cannot be read, is reported (`index_status`, `doctor`), skipped, never waited for,
never retried in a loop, and never shadowed by a second file for the same id. A folder of
the vault swapped for a link while the server runs is never written (or read) through.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

import vault.files as vfiles
from indexer import Indexer
from mcp_server.app import App
from tests.helpers.servers import run_cli
from vault import UnreadableSessionFile, Vault

from .conftest import FAST, RawServer, tree, wait_until
from .test_hostile import call


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _session(sid: str, word: str) -> str:
    return (
        f"---\nid: {sid}\ncreated: 2025-01-15T14:30:22.123Z\ntitle: {sid}\n---\n\n"
        f"<!-- cam:msg role=user -->\n{word} in {sid}\n<!-- /cam:msg -->\n"
    )


@pytest.fixture
def special_vault(vault_root: Path) -> Iterator[Path]:
    """A vault whose date folder holds a FIFO, a socket and a folder named `*.md`, sorted
    before well-formed sessions (which must still be indexed)."""
    day = vault_root / ".codearchitect" / "sessions" / "2025-01-15"
    day.mkdir(parents=True)
    os.mkfifo(day / "a-fifo.md")
    (day / "b-folder.md").mkdir()
    (day / "b-folder.md" / "inner.md").write_text(_session("inner", "innerword"))
    for n in range(3):
        (day / f"z-{n}.md").write_text(_session(f"good{n}", f"goodword{n}"))
    short = Path(tempfile.mkdtemp(dir="/tmp"))  # AF_UNIX paths are short: bind, then move
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(short / "s"))
        os.rename(short / "s", day / "c-socket.md")
        short.rmdir()
        yield vault_root


SPECIAL = ("a-fifo.md", "b-folder.md", "c-socket.md")


def test_special_files_never_block_the_server(
    special_vault: Path, raw_servers: Callable[..., RawServer]
) -> None:
    server = raw_servers(special_vault)
    server.initialize()

    def found_all() -> bool:
        total: int = server.call("search_messages", {"query": "goodword2"}, timeout=30)["total"]
        return total == 1

    assert wait_until(found_all, 60), "a session after the special files was never indexed"
    for n in range(3):
        assert server.call("search_messages", {"query": f"goodword{n}"})["total"] == 1
    assert server.call("search_messages", {"query": "innerword"})["total"] == 0
    status = server.call("index_status", {}, timeout=30)
    reported = {Path(m["path"]).name: m for m in status["malformed"]}
    assert set(SPECIAL) <= set(reported), status["malformed"]
    assert "not a regular file" in reported["a-fifo.md"]["reason"]
    stored = server.call("store_message", {"content": "newword", "role": "user"})
    assert stored["success"], stored
    assert server.call("search_messages", {"query": "newword"})["total"] == 1
    server.close()
    assert server.proc.returncode == 0


def test_cli_commands_never_hang_on_special_files(special_vault: Path) -> None:
    for args in (["reindex"], ["doctor", "--json"], ["search", "goodword1"], ["stats"]):
        done = run_cli(special_vault, *args)  # a FIFO used to block these forever
        assert "Traceback" not in done.stderr, (args, done.stderr)
        if args[0] == "doctor":
            assert done.returncode == 1  # problems found: the special files
            report = json.loads(done.stdout)
            names = {Path(m["path"]).name for m in report["status"]["malformed"]}
            assert set(SPECIAL) <= names, report
        elif args[0] == "search":
            assert done.returncode == 0 and "good1" in done.stdout, done.stdout


def test_special_files_are_not_retried_in_a_loop(special_vault: Path) -> None:
    """Recorded once: a second reconcile writes nothing for them (no retry loop)."""
    with Indexer(Vault(special_vault), FAST) as ix:
        first = ix.reconcile()
        assert first.malformed == len(SPECIAL) and first.added == 3
        with ix.mirror.read() as conn:
            before = conn.execute("SELECT path, indexed_at_ns FROM files ORDER BY path").fetchall()
        second = ix.reconcile()
        with ix.mirror.read() as conn:
            after = conn.execute("SELECT path, indexed_at_ns FROM files ORDER BY path").fetchall()
        assert second.retried == 0 and second.malformed == 0
        # The special files' rows were not written again (a regular file written just
        # before the first reconcile may be verified again: it is "racy").
        special = {f"2025-01-15/{n}" for n in SPECIAL}
        assert [tuple(r) for r in before if r[0] in special] == [
            tuple(r) for r in after if r[0] in special
        ]
        assert len([r for r in after if r[0] in special]) == len(SPECIAL)


# ---------------------------------------------------------------------------- unreadable


@pytest.fixture
def make_unreadable(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make a file unreadable: chmod 000, or (as root, whom permissions do not stop) the
    vault's open of that name fails with EACCES, the error chmod would give."""
    names: set[str] = set()
    real_open = vfiles.IO.open

    def fake_open(name: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(name) in names:
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        return int(real_open(name, flags, *args, **kwargs))

    def make(path: Path) -> None:
        if os.geteuid() != 0:
            path.chmod(0)
            return
        names.add(path.name)
        monkeypatch.setattr(vfiles.IO, "open", fake_open)

    return make


@pytest.mark.anyio
async def test_unreadable_session_is_reported_and_never_shadowed(
    vault_root: Path, make_unreadable: Callable[[Path], None]
) -> None:
    day = vault_root / ".codearchitect" / "sessions" / "2025-01-15"
    day.mkdir(parents=True)
    (day / "a-locked.md").write_text(_session("locked", "lockedword"))
    (day / "z-later.md").write_text(_session("later", "laterword"))
    make_unreadable(day / "a-locked.md")
    app = App(vault_root)
    try:
        async with Client(_server(app)) as client:
            # Reported, skipped, and the later file indexed all the same.
            app.index().reconcile()
            assert (await call(client, "search_messages", {"query": "laterword"}))["total"] == 1
            status = await call(client, "index_status", {})
            paths = {Path(m["path"]).name: m["reason"] for m in status["malformed"]}
            assert "a-locked.md" in paths and "ermission" in paths["a-locked.md"], paths
            # A write to the session in that file: a clear error, no second file.
            for args in (
                {"content": "x", "role": "user", "session": "locked"},
                {"content": "x", "role": "user", "session": "any-other-new-id"},
            ):
                data = await call(client, "store_message", args)
                assert data["error"] == "UNREADABLE_SESSION_FILE", data
                assert "a-locked.md" in data["message"]
            # A session with a generated id cannot collide: still stored.
            assert (await call(client, "store_message", {"content": "y", "role": "user"}))[
                "success"
            ]
    finally:
        app.close()
    files = sorted(p.name for p in day.iterdir())
    assert files == ["a-locked.md", "z-later.md"]


def test_unreadable_session_in_a_fresh_process(
    vault_root: Path, make_unreadable: Callable[[Path], None]
) -> None:
    """A process that never read the file (no catalogue, no index) refuses too."""
    vault = Vault(vault_root)
    first = vault.append_message("s", "user", "kept")
    make_unreadable(first.path)
    fresh = Vault(vault_root)
    with pytest.raises(UnreadableSessionFile) as info:
        fresh.append_message("s", "user", "would shadow")
    assert info.value.code == "UNREADABLE_SESSION_FILE"
    assert [p.name for p in first.path.parent.iterdir()] == [first.path.name]


def _server(app: App) -> Any:
    from mcp_server.server import build_server

    return build_server(app)


# ---------------------------------------------------------------------------- swapped links


def _swap_to_link(folder: Path, outside: Path) -> Path:
    """Replace `folder` by a link to a copy of it in `outside`; returns the real folder."""
    real = folder.with_name(folder.name + ".real")
    shutil.copytree(folder, outside / folder.name, symlinks=True)
    folder.rename(real)
    folder.symlink_to(outside / folder.name, target_is_directory=True)
    return real


@pytest.mark.parametrize("which", ["sessions", "day"])
def test_folder_swapped_for_a_link_while_serving(
    vault_root: Path, tmp_path: Path, raw_servers: Callable[..., RawServer], which: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    server = raw_servers(vault_root)
    server.initialize()
    assert server.call("store_message", {"content": "one", "role": "user", "session": "s"})[
        "success"
    ]
    sessions = vault_root / ".codearchitect" / "sessions"
    folder = sessions if which == "sessions" else sessions / _today()
    real = _swap_to_link(folder, outside)
    before = tree(outside)
    for args in (
        {"content": "two", "role": "user", "session": "s"},  # append to a known file
        {"content": "three", "role": "user", "session": "new-named"},  # create named
        {"content": "four", "role": "user"},  # create generated
    ):
        data = server.call("store_message", args)
        # Refused, or written where the session now is: the moved real folder, which for a
        # date folder is still inside sessions/ (never through the link).
        assert data["success"] or data["error"] == "SYMLINK_REFUSED", (args, data)
        if data["success"]:
            assert which == "day" and args["content"] == "two", data
            assert _holds(real, "two")
    # Whatever these answer, they write nothing through the link (checked below).
    server.call("patch_session", {"session": "s", "title": "x"})
    server.call("delete_session", {"session": "s"})
    server.close()
    assert tree(outside) == before


def _holds(folder: Path, content: str) -> bool:
    return any(f"\n{content}\n" in p.read_text() for p in folder.rglob("*.md"))


def _exchange(a: Path, b: Path) -> None:
    """Swap two names atomically (Linux `renameat2(RENAME_EXCHANGE)`): `a` never goes
    missing, so the server never sees a vault without its sessions folder."""
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def test_swapping_a_folder_mid_append_never_writes_outside(
    vault_root: Path, tmp_path: Path, raw_servers: Callable[..., RawServer]
) -> None:
    """A thread swaps `sessions/` for a link to an outside copy and back, again and
    again, while the server appends: nothing outside changes, every acknowledged message
    is in the real file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    server = raw_servers(vault_root)
    server.initialize()
    assert server.call("store_message", {"content": "m0", "role": "user", "session": "s"})[
        "success"
    ]
    sessions = vault_root / ".codearchitect" / "sessions"
    shutil.copytree(sessions, outside / "sessions")
    before = tree(outside)
    link = sessions.with_name("sessions.link")
    link.symlink_to(outside / "sessions", target_is_directory=True)
    stop = threading.Event()
    swaps = [0]

    def swapper() -> None:
        while not stop.is_set():
            _exchange(sessions, link)  # sessions/ is now the link
            time.sleep(0.003)
            _exchange(sessions, link)
            swaps[0] += 1
            time.sleep(0.003)

    thread = threading.Thread(target=swapper)
    thread.start()
    acked = []
    try:
        for n in range(1, 120):
            data = server.call(
                "store_message", {"content": f"m{n}", "role": "user", "session": "s"}
            )
            if data["success"]:
                acked.append(f"m{n}")
            else:
                assert data["error"] in ("SYMLINK_REFUSED", "CONFLICT"), data
    finally:
        stop.set()
        thread.join()
    server.close()
    assert swaps[0] > 10
    assert sessions.is_dir() and not sessions.is_symlink()
    assert tree(outside) == before
    assert acked, "no append ever succeeded"
    text = "".join(p.read_text() for p in sessions.rglob("*.md"))
    assert all(f"\n{m}\n" in text for m in acked)
