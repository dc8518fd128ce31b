"""The watcher: filter, real inotify events, polling fallback, overflow, end to end."""

from __future__ import annotations

import errno
import logging
import os
import threading
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver

from indexer import Change, Indexer, SessionFileFilter, watch
from indexer.dump import expected_dump
from indexer.watcher import RESCAN, WatchState
from tests.helpers.polling import PATIENCE
from vault import Vault

from .conftest import session_text, wait_until


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("session-x.md", True),
        (".~cam-abc.tmp", False),
        (".session-x.md.swp", False),
        ("session-x.md~", False),
        ("4913", False),
        (".#session-x.md", False),
        ("session-x.md.tmp", False),
        ("notes.txt", False),
    ],
)
def test_filter(name: str, kept: bool) -> None:
    assert SessionFileFilter()(Change.modified, f"/v/sessions/2025-01-01/{name}") is kept


def _collect(
    root: Path, stop: threading.Event, out: list[set[tuple[Change, str]]], **kw: object
) -> threading.Thread:
    def run() -> None:
        for batch in watch(root, stop_event=stop, debounce_ms=50, step_ms=20, **kw):  # type: ignore[arg-type]
            out.append(batch)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _seen(out: list[set[tuple[Change, str]]]) -> set[str]:
    return {os.path.basename(p) for batch in out for _, p in batch}


def test_new_folder_files_and_temp_renames(tmp_path: Path) -> None:
    stop = threading.Event()
    out: list[set[tuple[Change, str]]] = []
    state = WatchState()
    thread = _collect(tmp_path, stop, out, state=state)
    try:
        assert wait_until(lambda: state.mode == "inotify")
        day = tmp_path / "2025-01-01"
        day.mkdir()
        for n in range(20):
            (day / f"s{n}.md").write_text("x")
        tmp = day / ".~cam-1.tmp"
        tmp.write_text("y")
        os.replace(tmp, day / "s0.md")
        assert wait_until(lambda: {f"s{n}.md" for n in range(20)} <= _seen(out))
        assert ".~cam-1.tmp" not in _seen(out)
    finally:
        stop.set()
        thread.join(5)


class _NoWatches(BaseObserver):
    def __init__(self) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


def test_out_of_watches_falls_back_to_polling(tmp_path: Path) -> None:
    stop = threading.Event()
    out: list[set[tuple[Change, str]]] = []
    state = WatchState()
    thread = _collect(
        tmp_path, stop, out, state=state, observer_factory=_NoWatches, poll_interval=0.1
    )
    try:
        assert wait_until(lambda: state.mode == "polling")
        assert wait_until(lambda: any(p == RESCAN for b in out for _, p in b))
        (tmp_path / "late.md").write_text("x")
        assert wait_until(lambda: "late.md" in _seen(out))
    finally:
        stop.set()
        thread.join(5)


def test_queue_overflow_asks_for_a_rescan(tmp_path: Path) -> None:
    stop = threading.Event()
    out: list[set[tuple[Change, str]]] = []
    state = WatchState()
    thread = _collect(tmp_path, stop, out, state=state)
    try:
        assert wait_until(lambda: state.mode is not None)
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        assert wait_until(lambda: any(p == RESCAN for b in out for _, p in b))
    finally:
        stop.set()
        thread.join(5)


# ---------------------------------------------------------------------------- end to end


def test_hand_edit_plain_write_is_searchable(vault: Vault, live: Indexer) -> None:
    appended = live.append_message("e", "user", "original words")
    appended.path.write_text(appended.path.read_text().replace("original", "handwritten"))
    assert wait_until(lambda: live.search("handwritten").total == 1)
    assert live.search("original").total == 0


def test_hand_edit_temp_and_rename_is_searchable(vault: Vault, live: Indexer) -> None:
    appended = live.append_message("e", "user", "original words")
    path = appended.path
    tmp = path.with_name(path.name + ".swp")  # an editor's scratch file: ignored
    tmp.write_text(path.read_text().replace("original", "renamed"))
    os.replace(tmp, path)
    assert wait_until(lambda: live.search("renamed").total == 1)
    assert wait_until(lambda: live.dump() == expected_dump(vault))


def test_deleted_file_disappears(vault: Vault, live: Indexer) -> None:
    appended = live.append_message("gone", "user", "ephemeral words")
    live.flush()
    appended.path.unlink()
    assert wait_until(lambda: live.search("ephemeral").total == 0)
    assert wait_until(lambda: live.get_session("gone") is None)


def test_new_date_folder_with_50_files(vault: Vault, live: Indexer) -> None:
    day = vault.sessions_dir / "2030-01-01"
    day.mkdir()
    for n in range(50):
        text = session_text(
            f"bulk-{n}", f"Bulk {n}", (f"b{n}", "user", "2030-01-01T00:00:00.000Z", f"bulkword {n}")
        )
        (day / f"session-bulk-{n}.md").write_text(text)
    assert wait_until(lambda: live.count_messages() == 50)
    assert wait_until(lambda: live.search("bulkword", limit=100).total == 50)
    assert live.dump() == expected_dump(vault)


def test_own_writes_are_noops_for_the_watcher(vault: Vault, live: Indexer) -> None:
    for n in range(10):
        live.append_message("own", "user", f"message {n}")
    assert live.flush(PATIENCE)
    conn = live.mirror.conn()
    assert wait_until(lambda: conn.execute("SELECT hash FROM files").fetchone()[0] is not None)
    assert live.dump() == expected_dump(vault)
    assert conn.execute("SELECT count(*) FROM fulltext_queue").fetchone()[0] == 0
