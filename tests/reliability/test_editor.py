"""Scenario 4: an editor saves a stale buffer while the MCP server appends.

tests/vault/test_append.py replays one editor replace between an append's write and its
check, and tests/vault/test_journal.py one stale save after the appends. Here a real
server process appends while an "editor" thread keeps loading the file and saving its
stale copy back, three ways: a plain in-place write (truncate, then write), temp file plus
rename, and vim's sequence (`4913` probe, rename to `file~`, write a new file). Every
store_message must succeed or return CONFLICT; every acknowledged message is then either in
the file or reported as `acked_missing` by index_status and by `codearchitect doctor`; the
reported ones are restored with `codearchitect restore`; and the index converges to the files
without being asked.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from indexer import Indexer
from indexer.dump import expected_dump
from tests.helpers.servers import EXE, server_env, server_params
from vault import Conflict, Vault, catalog, lookup

from .conftest import FAST, assert_index_equals_files, wait_until

pytestmark = pytest.mark.anyio


def save(path: Path, data: bytes, mode: str) -> None:
    if mode == "in_place":
        with open(path, "r+b") as f:
            f.truncate(0)
            f.write(data)
    elif mode == "rename":
        tmp = path.with_name(f".{path.name}.swp-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    elif mode == "vim":
        probe = path.with_name("4913")
        probe.write_bytes(b"")
        probe.unlink()
        backup = path.with_name(path.name + "~")
        os.replace(path, backup)
        path.write_bytes(data)
        backup.unlink()
    else:
        raise AssertionError(mode)


def edit_stale(path: Path, mode: str, stop: threading.Event, rng: random.Random) -> int:
    """Load the file, wait while appends land, save the stale copy (with a note added
    between blocks, as a person would). Returns how many saves were made."""
    saves = 0
    while not stop.is_set():
        buffer = path.read_bytes()
        time.sleep(rng.uniform(0.005, 0.04))
        save(path, buffer + f"\nnote {saves} typed in the editor\n".encode(), mode)
        saves += 1
        time.sleep(rng.uniform(0.0, 0.02))
    return saves


async def run_storm(root: Path, mode: str, count: int) -> None:
    rng = random.Random(hash(mode) & 0xFFFF)
    acked: dict[str, str] = {}
    outcomes: dict[str, int] = {}
    async with Client(server_params(root)) as client:
        first = await client.call_tool(
            "store_message", {"content": "opening", "role": "user", "session": "edited"}
        )
        acked[first.structured_content["message"]["id"]] = "opening"
        path = Vault(root).locate("edited")
        stop = threading.Event()
        saves: list[int] = []

        def editor() -> None:
            saves.append(edit_stale(path, mode, stop, rng))

        thread = threading.Thread(target=editor)
        thread.start()
        try:
            for i in range(count):
                content = f"appended {i} during the edit"
                result = await client.call_tool(
                    "store_message", {"content": content, "role": "assistant", "session": "edited"}
                )
                data: dict[str, Any] = dict(result.structured_content or {})
                code = "ok" if not result.is_error else data["error"]
                outcomes[code] = outcomes.get(code, 0) + 1
                if not result.is_error:
                    acked[data["message"]["id"]] = content
                await anyio.sleep(rng.uniform(0, 0.01))
        finally:
            stop.set()
            thread.join(30)
        assert set(outcomes) <= {"ok", "CONFLICT"}, outcomes
        assert outcomes.get("ok", 0) > 0 and saves[0] > 0
        # One file holds the session: no append created it again during a save.
        assert [p.name for p in Vault(root).session_paths()] == [path.name]

        # Nothing acknowledged is silently lost: in the file, or reported.
        present = {m.id for m in Vault(root).get("edited").messages}
        status = await client.call_tool("index_status", {})
        reported = {e["message_id"] for e in status.structured_content["acked_missing"]}
        assert reported == set(acked) - present
        assert not reported & present

        doctor = subprocess.run(
            [str(EXE), "doctor", "--json", "--root", str(root)],
            capture_output=True,
            text=True,
            env=server_env(),
            timeout=60,
        )
        report = json.loads(doctor.stdout)
        assert {e["message_id"] for e in report["acked_missing"]} == reported
        assert doctor.returncode == (1 if reported else 0)

        if reported:  # all in one process (one each took most of this test's time)
            done = subprocess.run(
                [str(EXE), "restore", *sorted(reported), "--root", str(root)],
                capture_output=True,
                text=True,
                env=server_env(),
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.count("restored ") == len(reported), done.stdout
        session = Vault(root).get("edited")
        ids = [m.id for m in session.messages]
        assert len(ids) == len(set(ids))
        by_id = {m.id: m.content for m in session.messages}
        assert {mid: by_id.get(mid) for mid in acked} == acked
        status = await client.call_tool("index_status", {})
        assert status.structured_content["acked_missing"] == []

        # The running server's index follows the files by itself (watcher, no reconcile).
        vault = Vault(root)
        with Indexer(vault, FAST) as ix:
            assert wait_until(lambda: ix.dump() == expected_dump(vault))
        result = await client.call_tool("count_messages", {"session": "edited"})
        assert result.structured_content["count"] == len(ids)
    assert_index_equals_files(root)


@pytest.mark.parametrize("mode", ["in_place", "rename", "vim"])
async def test_stale_editor_saves_during_appends(vault_root: Path, mode: str) -> None:
    await run_storm(vault_root, mode, 60)


@pytest.mark.stress
@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", ["in_place", "rename", "vim"])
async def test_stale_editor_saves_during_appends_stress(vault_root: Path, mode: str) -> None:
    await run_storm(vault_root, mode, 1000)


@pytest.mark.parametrize("seconds", [0.05, 0.6], ids=["quick", "stalled"])
@pytest.mark.parametrize("mode", ["in_place", "vim"])
def test_append_during_a_slow_save_waits_for_it(
    vault_root: Path, mode: str, seconds: float
) -> None:
    """Found by the storm above: while an editor's save had the file empty (in place) or
    renamed away (vim), store_message either failed with SESSION_NOT_FOUND or, worse,
    created a second file with the same id. Replayed deterministically: the save takes
    50 ms, and the append must land in the saved file. (The writer is the process that
    knew the file, as a running server does: a process that never saw the file cannot tell
    a vim save's missing moment from a session that does not exist.) `stalled`: the storm
    failed the same way on a loaded machine (load 12-17), where the editor thread stalled
    past the writer's ~0.3 s patience; a save that takes 0.6 s is waited for too."""
    vault = Vault(vault_root)
    vault.append_message("slow", "user", "first")
    path = vault.locate("slow")
    data = path.read_bytes()
    if mode == "in_place":
        path.write_bytes(b"")
    else:
        os.replace(path, path.with_name(path.name + "~"))
    finisher = threading.Timer(seconds, lambda: path.write_bytes(data + b"\nnote\n"))
    finisher.start()
    try:
        vault.append_message("slow", "assistant", "during the save")
    finally:
        finisher.join()
    assert [p.name for p in Vault(vault_root).session_paths()] == [path.name]
    assert [m.content for m in Vault(vault_root).get("slow").messages] == [
        "first",
        "during the save",
    ]


class _EditorBetweenLooks:
    """`vault.lookup`'s clock, whose waits each let the editor take its next step: the
    vault's look-ups then see the save exactly between those steps (and take no time)."""

    def __init__(self, steps: list[Callable[[], object]]) -> None:
        self.steps = steps
        self.waits = 0

    monotonic = staticmethod(time.monotonic)

    def sleep(self, seconds: float) -> None:
        self.waits += 1
        if self.steps:
            self.steps.pop(0)()


def test_a_vim_save_seen_empty_between_its_steps_is_waited_for(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the vim storm (`make stress`, PYTHONHASHSEED=2): an append's look-up saw the
    file renamed away (`file~`), then vim's new file still empty (created, not yet
    written). The catalogue listed that file without an id and never read it again while
    the vanished file kept the wait going, so the wait ran out and store_message created a
    second file for the id; the server then appended to that one for the rest of the storm
    (the editor's file, listed without an id, was never looked at again) and every later
    reader got AMBIGUOUS. Replayed step by step: gone, empty, written, backup removed."""
    vault = Vault(vault_root)
    vault.append_message("vim", "user", "first")
    path = vault.locate("vim")
    data = path.read_bytes() + b"\nnote typed in the editor\n"
    backup = path.with_name(path.name + "~")
    os.replace(path, backup)  # vim: the file renamed to its backup
    fd: list[int] = []

    def write_and_close() -> None:
        os.write(fd[0], data)
        os.close(fd[0])

    steps: list[Callable[[], object]] = [
        lambda: fd.append(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)),
        write_and_close,  # vim: the new file (empty a moment), then its bytes
        backup.unlink,  # ... and the backup removed
    ]
    clock = _EditorBetweenLooks(steps)
    monkeypatch.setattr(lookup, "time", clock)
    vault.append_message("vim", "assistant", "during the save")
    assert clock.waits == 2  # it did see the empty file, and waited until it was written
    steps.pop()()
    vault.append_message("vim", "assistant", "after the save")
    assert [p.name for p in Vault(vault_root).session_paths()] == [path.name]
    assert [m.content for m in Vault(vault_root).get("vim").messages] == [
        "first",
        "during the save",
        "after the save",
    ]


@pytest.mark.parametrize("how", ["vim", "in_place", "deleted"])
def test_a_save_that_outlasts_the_wait_is_a_conflict_never_a_second_file(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A save stalled past the wait, vim's (the file renamed to `file~`, not written back)
    or in place (the file truncated, not written back): CONFLICT, nothing created, and the
    next try after the save lands in the saved file. A file deleted by hand (no backup)
    was not being saved: after the wait the id is free again and the append creates it.
    (The wait and the 2 s of a vanished file are cut to milliseconds here: only the
    backup, or the same file still without its id, keeps the save in progress.)"""
    monkeypatch.setattr(lookup, "SAVE_WAITS", (0.01,) * 4)
    monkeypatch.setattr(catalog, "_HOT_NS", 20_000_000)
    vault = Vault(vault_root)
    vault.append_message("stalled", "user", "first")
    path = vault.locate("stalled")
    data = path.read_bytes()
    backup = path.with_name(path.name + "~")
    if how == "deleted":
        path.unlink()
        created = vault.append_message("stalled", "assistant", "a new start")
        assert created.created_session
        assert list(Vault(vault_root).session_paths()) == [created.path]
        assert [m.content for m in Vault(vault_root).get("stalled").messages] == ["a new start"]
        return
    if how == "vim":
        os.replace(path, backup)
    else:
        path.write_bytes(b"")
    for _ in range(2):  # a retry while the save still stalls is refused too
        with pytest.raises(Conflict):
            vault.append_message("stalled", "assistant", "during the save")
    assert len(list(Vault(vault_root).session_paths())) == (how == "in_place")
    path.write_bytes(data + b"\nnote\n")
    if how == "vim":
        backup.unlink()
    vault.append_message("stalled", "assistant", "after the save")
    assert [p.name for p in Vault(vault_root).session_paths()] == [path.name]
    contents = [m.content for m in Vault(vault_root).get("stalled").messages]
    assert contents == ["first", "after the save"]
