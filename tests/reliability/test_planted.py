"""Hostile clone: links planted anywhere under `.codearchitect/` (issue 14, items 1 and 2).

A cloned repository controls every entry under `.codearchitect/` (git checks out a link
its author force-added under an ignored path). Each test plants links in a project, runs
the real `codearchitect serve` (or the CLI) on it, and checks that nothing outside the
project changed (checksummed before and after) and that the server still works: the link
was replaced by the server's own file or folder, never followed.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.semantic.store import VectorStore
from tests.helpers.servers import EXE, run_cli, server_env
from vault.files import checksum

from .conftest import RawServer, tree, wait_until


def _outer(tmp_path: Path) -> tuple[Path, Path]:
    """(outer, project): a project inside a folder holding other files (its "neighbours")."""
    outer = tmp_path / "outer"
    project = outer / "project"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / "src").mkdir()
    (project / "src" / "main.py").write_text("print('my sources')\n")
    (outer / "neighbour.txt").write_text("a file beside the project\n")
    (outer / "notes").mkdir()
    (outer / "notes" / "todo.md").write_text("- keep me\n")
    (outer / "old.tmp").write_text("a .tmp file the sweep must not touch\n")
    return outer, project


def _outside(tmp_path: Path) -> Path:
    """A scratch folder outside the project, full of files a planted link points at."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious.txt").write_text("do not delete\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.bin").write_bytes(os.urandom(256))
    (folder / "x.tmp").write_text("not ours\n")
    (folder / ".tmp123").write_text("not ours either\n")
    return folder


def _project_tree(project: Path) -> dict[str, bytes | str]:
    return tree(project, skip=".codearchitect")


def _store_and_find(server: RawServer, word: str) -> None:
    stored = server.call("store_message", {"content": f"{word} here", "role": "user"})
    assert stored["success"], stored

    def found() -> bool:
        total: int = server.call("search_messages", {"query": word})["total"]
        return total == 1

    assert wait_until(found, 30), "a stored message never became searchable"


@pytest.mark.parametrize("link", ["absolute", "relative-outer", "relative-project"])
def test_planted_fulltext_link_never_touches_its_target(
    tmp_path: Path, raw_servers: Callable[..., RawServer], link: str
) -> None:
    outer, project = _outer(tmp_path)
    outside = _outside(tmp_path)
    index = project / ".codearchitect" / "index"
    index.mkdir(parents=True)
    target = {"absolute": str(outside), "relative-outer": "../../..", "relative-project": "../.."}
    os.symlink(target[link], index / "fulltext", target_is_directory=True)
    before = (tree(outside), tree(outer, skip="project"), _project_tree(project))
    server = raw_servers(project)
    server.initialize()
    _store_and_find(server, "plantedword")
    server.close()
    assert (tree(outside), tree(outer, skip="project"), _project_tree(project)) == before
    fulltext = index / "fulltext"
    assert fulltext.is_dir() and not fulltext.is_symlink()
    assert (fulltext / "meta.json").is_file()


def test_links_inside_the_fulltext_folder_are_removed_not_followed(
    tmp_path: Path, raw_servers: Callable[..., RawServer]
) -> None:
    _, project = _outer(tmp_path)
    outside = _outside(tmp_path)
    server = raw_servers(project)
    server.initialize()
    _store_and_find(server, "firstword")
    server.close()
    fulltext = project / ".codearchitect" / "index" / "fulltext"
    assert (fulltext / "meta.json").is_file()  # a usable index: no recreate will clean up
    # tantivy's own lock files and temp names, each a link to an outside file or name.
    for name in (".tantivy-writer.lock", ".tantivy-meta.lock"):
        (fulltext / name).unlink(missing_ok=True)
        (fulltext / name).symlink_to(outside / f"{name}-would-be-created")
    (fulltext / "seg.tmp").symlink_to(outside / "x.tmp")
    (fulltext / ".tmp-dir").symlink_to(outside / "sub", target_is_directory=True)
    os.mkfifo(fulltext / "fifo.idx")
    before = tree(outside)
    server = raw_servers(project)
    server.initialize()
    _store_and_find(server, "secondword")
    assert server.call("search_messages", {"query": "firstword"})["total"] == 1
    server.close()
    assert tree(outside) == before
    assert not any(p.is_symlink() or p.is_fifo() for p in fulltext.iterdir())


def test_planted_mirror_link_never_opens_the_target_database(
    tmp_path: Path, raw_servers: Callable[..., RawServer]
) -> None:
    _, project = _outer(tmp_path)
    outside = _outside(tmp_path)
    db = outside / "app.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('alice')")
    conn.close()
    index = project / ".codearchitect" / "index"
    index.mkdir(parents=True)
    (index / "mirror.sqlite3").symlink_to(db)
    (index / "mirror.sqlite3-wal").symlink_to(outside / "wal-would-be-created")
    (index / "mirror.sqlite3-shm").symlink_to(outside / "precious.txt")
    (index / "mirror.sqlite3.check").symlink_to(outside / "check-would-be-created")
    (index / "mirror.sqlite3.lock").symlink_to(outside / "precious.txt")
    before = tree(outside)
    server = raw_servers(project)
    server.initialize()
    _store_and_find(server, "mirrorword")
    server.close()
    assert tree(outside) == before
    for name in (
        "mirror.sqlite3",
        "mirror.sqlite3-wal",
        "mirror.sqlite3-shm",
        "mirror.sqlite3.lock",
    ):
        assert not (index / name).is_symlink()
    assert (index / "mirror.sqlite3").is_file()


@pytest.mark.parametrize(
    "planted",
    [
        "index",
        "locks",
        "journal",
        "trash",
        "index/leader.lock",
        "locks/session.lock",
        "journal/today.jsonl",
        "capture.log",
        ".gitignore",
        "config.json",
    ],
)
def test_planted_links_at_local_state_are_replaced(
    tmp_path: Path, raw_servers: Callable[..., RawServer], planted: str
) -> None:
    """A link at any folder or file of local state: the server works, the target is intact."""
    _, project = _outer(tmp_path)
    outside = _outside(tmp_path)
    vault_dir = project / ".codearchitect"
    (vault_dir / "sessions").mkdir(parents=True)
    (vault_dir / "locks").mkdir()
    (vault_dir / "journal").mkdir()
    (vault_dir / "index").mkdir()
    names = {
        "locks/session.lock": f"locks/{checksum(b'named')[:24]}.lock",
        "journal/today.jsonl": f"journal/{_today()}.jsonl",
    }
    where = vault_dir / names.get(planted, planted)
    if where.is_dir():
        where.rmdir()
    folder = "." not in planted
    where.symlink_to(outside if folder else outside / "precious.txt", target_is_directory=folder)
    before = tree(outside)
    server = raw_servers(project)
    server.initialize()
    stored = server.call("store_message", {"content": "w1 x", "role": "user", "session": "named"})
    assert stored["success"], stored
    assert server.call("store_message", {"content": "w2", "role": "user", "session": "named"})[
        "success"
    ]
    assert wait_until(lambda: server.call("search_messages", {"query": "w1"})["total"] == 1, 30)
    assert server.call("delete_session", {"session": "named"})["success"]
    status = server.call("index_status", {})
    assert status["success"] and status["acked_missing"] == []
    assert wait_until(lambda: server.call("index_status", {})["leader"], 30)
    server.close()
    assert tree(outside) == before
    # The server never uses capture.log (the capture hook does: tested below), and leaves
    # the .gitignore alone whatever it is.
    # config.json is the user's setting: read as missing, never replaced.
    if planted not in (".gitignore", "capture.log", "config.json"):
        assert not where.is_symlink()


def test_planted_capture_log_link_is_never_written_through(tmp_path: Path) -> None:
    _, project = _outer(tmp_path)
    outside = _outside(tmp_path)
    (project / ".codearchitect").mkdir()
    (project / ".codearchitect" / "capture.log").symlink_to(outside / "precious.txt")
    before = tree(outside)
    hook = '{"hook_event_name": "Stop", "transcript_path": "/nonexistent/t.jsonl", "cwd": "%s"}'
    done = subprocess.run(
        [str(EXE), "capture", "claude-code"],
        input=hook % project,
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=60,
    )
    assert done.returncode == 0
    assert tree(outside) == before
    log = project / ".codearchitect" / "capture.log"
    assert log.is_file() and not log.is_symlink()
    assert "transcript not found" in log.read_text()


def test_planted_links_in_a_vector_store_are_removed(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    index = tmp_path / "p" / ".codearchitect" / "index"
    index.mkdir(parents=True)
    (index / "vectors").symlink_to(outside, target_is_directory=True)
    before = tree(outside)
    store = VectorStore(index, "tiny-model", 4)
    store.open_writer()
    assert tree(outside) == before
    assert not (index / "vectors").is_symlink()
    # And links planted inside the store's own folder.
    store.close_writer()
    (store.directory / "store_id").unlink()
    (store.directory / "store_id").symlink_to(outside / "precious.txt")
    (store.directory / "cache.sqlite3-wal").symlink_to(outside / "sub" / "deep.bin")
    store = VectorStore(index, "tiny-model", 4)
    store.open_writer()
    store.close_writer()
    assert tree(outside) == before
    assert not any(p.is_symlink() for p in store.directory.iterdir())


def test_cli_commands_on_a_planted_clone(tmp_path: Path) -> None:
    """One-shot commands (reindex, doctor, search, stats) on the same planted links."""
    outer, project = _outer(tmp_path)
    outside = _outside(tmp_path)
    index = project / ".codearchitect" / "index"
    index.mkdir(parents=True)
    (index / "fulltext").symlink_to("../../..", target_is_directory=True)
    (index / "mirror.sqlite3").symlink_to(outside / "precious.txt")
    (index / "leader.lock").symlink_to(outside / "precious.txt")
    before = (tree(outside), tree(outer, skip="project"), _project_tree(project))
    for args in (["reindex"], ["doctor", "--json"], ["search", "anything"], ["stats"]):
        done = run_cli(project, *args)
        assert "Traceback" not in done.stderr, (args, done.stderr)
    assert (tree(outside), tree(outer, skip="project"), _project_tree(project)) == before
    assert not (index / "fulltext").is_symlink()


def _today() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%d")
