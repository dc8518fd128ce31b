"""Scenario 8: the index is disposable. Delete it, or corrupt the SQLite mirror or the
tantivy folder, and a restarted server rebuilds to the same answers for a fixed query set.

tests/indexer/test_sync.py checks `Indexer.rebuild()` after deleting the index and a mirror
whose header is garbage; here the server process does it by itself at start-up, and the
corruption is also inside the file (a damaged page, a cut-off file, a lost WAL) and in the
tantivy folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.servers import run_cli, server_env

from .conftest import RawServer, assert_index_equals_files, tree, wait_until

QUERIES = [
    "rotation",
    '"key rotation"',
    "jwt -oauth",
    "jwt OR oauth",
    "retr*",
    "c++",
    "zebra",
    "hand-written",
]


def seed(server: RawServer, root: Path) -> None:
    server.initialize()
    stored = server.call(
        "store_session",
        {
            "conversation": "User: how do we do key rotation for jwt?\nAI: keep two keys, rotate daily",
            "topic": "JWT key rotation",
        },
    )
    assert stored["success"]
    for i in range(30):
        role = "user" if i % 2 else "assistant"
        words = ["retries", "oauth", "c++ templates", "zebra crossing", "jwt"][i % 5]
        assert server.call(
            "store_message",
            {"content": f"message {i} about {words}", "role": role, "session": f"s{i % 3}"},
        )["success"]
    assert server.call("patch_session", {"session": "s1", "title": "Retry policy"})["success"]
    # A hand-made file and a broken one: both are part of "the files".
    day = Path(stored["file"]).parent
    (day / "hand.md").write_text(
        "---\nid: hand\ncreated: 2025-01-01T00:00:00.000Z\n---\n\n"
        "<!-- cam:msg role=user -->\na hand-written note about rotation\n<!-- /cam:msg -->\n"
    )
    (day / "broken.md").write_text("---\nid: broken\n<!-- no end of frontmatter\n")


def answers(server: RawServer) -> dict[str, Any]:
    """The fixed query set; an error (e.g. while a restarted server is still re-reading the
    files) is recorded as its code, so `converge` keeps polling."""

    def ask(tool: str, args: dict[str, Any], key: str) -> Any:
        data = server.call(tool, args)
        return data[key] if data["success"] else ("error", data["error"])

    out: dict[str, Any] = {}
    for q in QUERIES:
        r = server.call("search_messages", {"query": q, "limit": 100})
        out[q] = (
            (r["total"], sorted((h["session_id"], h["message_id"]) for h in r["hits"]))
            if r["success"]
            else ("error", r["error"])
        )
    sessions = ask("list_sessions", {"limit": 100}, "sessions")
    out["sessions"] = (
        sessions
        if isinstance(sessions, tuple)
        else sorted((s["id"], s["title"], s["message_count"]) for s in sessions)
    )
    out["count"] = ask("count_messages", {}, "count")
    messages = ask("get_messages", {"session": "s1"}, "messages")
    out["s1"] = (
        messages if isinstance(messages, tuple) else [(m["id"], m["content"]) for m in messages]
    )
    malformed = ask("index_status", {}, "malformed")
    out["malformed"] = (
        sorted(m["path"] for m in malformed) if isinstance(malformed, list) else malformed
    )
    return out


def converge(server: RawServer, expected: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got = answers(server)
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def corrupt_middle(db: Path) -> None:
    data = bytearray(db.read_bytes())
    assert len(data) > 3 * 4096
    for i in range(len(data) // 3, len(data) // 3 + 2 * 4096):
        data[i] = 0xA5
    db.write_bytes(bytes(data))


def cut_in_half(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def garbage_header(db: Path) -> None:
    db.write_bytes(b"not a database at all " * 500)


def drop_index(index: Path) -> None:
    shutil.rmtree(index)


def drop_fulltext_meta(index: Path) -> None:
    (index / "fulltext" / "meta.json").unlink()


def garble_segments(index: Path) -> None:
    for f in (index / "fulltext").iterdir():
        if f.is_file() and f.suffix in (".idx", ".term", ".store"):
            f.write_bytes(b"\0" * 64)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "delete_index_folder": drop_index,
    "sqlite_garbage_header": lambda i: garbage_header(i / "mirror.sqlite3"),
    "sqlite_damaged_page": lambda i: corrupt_middle(i / "mirror.sqlite3"),
    "sqlite_cut_in_half": lambda i: cut_in_half(i / "mirror.sqlite3"),
    "tantivy_meta_lost": drop_fulltext_meta,
    "tantivy_segments_garbled": garble_segments,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_restart_after_damage_gives_the_same_answers(
    vault_root: Path, raw_servers: Callable[..., RawServer], damage: str
) -> None:
    server = raw_servers(vault_root)
    seed(server, vault_root)
    # The watcher picks up the hand-made files.
    assert wait_until(
        lambda: (
            any(s[0] == "hand" for s in answers(server)["sessions"])
            and len(answers(server)["malformed"]) == 1
        ),
        timeout=30,
    )
    before = answers(server)
    assert before["malformed"][0].endswith("broken.md")
    server.close()
    index = vault_root / ".codearchitect" / "index"
    DAMAGE[damage](index)
    server = raw_servers(vault_root)
    server.initialize()
    after = converge(server, before)
    assert after == before
    server.close()
    assert_index_equals_files(vault_root)


# ---------------------------------------------------------------------- a running server

# What a running server must repair or follow: the SQLite file damaged, or the whole index
# folder (mirror, tantivy, leader lock) deleted under it.
MIRROR_DAMAGE = [*sorted(k for k in DAMAGE if k.startswith("sqlite_")), "delete_index_folder"]


def drop_index_at_once(index: Path) -> None:
    """`drop_index` under running servers: renamed away first, so the folder vanishes at
    once instead of while rmtree races the servers writing into it."""
    gone = index.with_name("index.gone")
    os.rename(index, gone)
    shutil.rmtree(gone)


def settle_into_file(db: Path) -> None:
    """Checkpoint the WAL into the database file and empty it (what SQLite's automatic
    checkpoint does as a server runs), so damage done to the file reaches what the running
    servers read: with the pages still in the WAL they would never meet it."""
    conn = sqlite3.connect(db, timeout=60)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    assert busy == 0


def outside_state(root: Path) -> dict[str, bytes | str]:
    """Every file beside the project (the servers' logs excepted) and in the test's HOME."""
    state = {k: v for k, v in tree(root.parent, skip=root.name).items() if not k.endswith(".log")}
    state.update({f"HOME/{k}": v for k, v in tree(Path(os.environ["HOME"])).items()})
    return state


def poll_until_whole(
    server: RawServer, expected: dict[str, Any], timeout: float = 120
) -> list[str]:
    """Ask until the answers equal `expected`. Every answer on the way must be right, or
    marked stale (search, count_messages), or an error (returned, so the caller can say
    how many there were): never a wrong answer that claims to be current."""
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        count = server.call("count_messages", {})
        if not count["success"]:
            errors.append(f"count_messages: {count['error']} {count['message']} {count['details']}")
        elif not count["stale"]:
            assert count["count"] == expected["count"], count
        found = server.call("search_messages", {"query": "rotation", "limit": 100})
        if not found["success"]:
            errors.append(f"search: {found['error']} {found['message']} {found['details']}")
        elif not found["stale"]:
            got = (
                found["total"],
                sorted((h["session_id"], h["message_id"]) for h in found["hits"]),
            )
            assert got == expected["rotation"], found
        got_all = answers(server)
        if got_all == expected:
            return errors
        assert time.monotonic() < deadline, f"never whole again: {got_all} != {expected}"
        time.sleep(0.2)


def two_servers(
    root: Path, raw_servers: Callable[..., RawServer]
) -> tuple[RawServer, RawServer, dict[str, Any]]:
    """A seeded leader and a second server on the project, both giving the same answers."""
    leader = raw_servers(root)
    seed(leader, root)
    assert wait_until(lambda: len(answers(leader)["malformed"]) == 1, timeout=60)
    before = answers(leader)
    follower = raw_servers(root)
    follower.initialize()
    assert converge(follower, before) == before
    return leader, follower, before


@pytest.mark.parametrize("damage", MIRROR_DAMAGE)
def test_a_running_server_repairs_a_damaged_mirror(
    vault_root: Path, raw_servers: Callable[..., RawServer], damage: str
) -> None:
    """Issue 14 item 10d: no restart. The leader moves the damaged file aside (where a
    start puts it), makes a new mirror and reads the files again; queries meanwhile wait
    for it or say stale; a second server on the project follows the new file."""
    leader, follower, before = two_servers(vault_root, raw_servers)
    assert leader.call("index_status", {})["leader"] is True
    assert follower.call("index_status", {})["leader"] is False
    index = vault_root / ".codearchitect" / "index"
    outside = outside_state(vault_root)

    settle_into_file(index / "mirror.sqlite3")
    (drop_index_at_once if damage == "delete_index_folder" else DAMAGE[damage])(index)

    for server in (leader, follower):
        errors = poll_until_whole(server, before)
        assert errors == [], errors  # a query that met the damage waited for the repair
    assert leader.proc.poll() is None and follower.proc.poll() is None  # no restart
    aside = sorted(p.name for p in index.glob("mirror.sqlite3.corrupt-*"))
    if damage == "delete_index_folder":
        assert aside == []  # nothing was damaged: a new folder, a new mirror
    else:
        assert aside and not aside[0].endswith(("-wal", "-shm")), aside
    assert not (index / "mirror.sqlite3.check").exists()

    # A message stored now is found by both servers, and counted.
    stored = follower.call(
        "store_message", {"content": "after the repair: a quokka", "role": "user", "session": "s1"}
    )
    assert stored["success"] and not stored.get("warnings"), stored

    def finds_the_quokka(server: RawServer) -> bool:
        total: int = server.call("search_messages", {"query": "quokka"})["total"]
        return total == 1

    for server in (leader, follower):
        assert wait_until(partial(finds_the_quokka, server), timeout=60)
        counted = server.call("count_messages", {})
        assert (counted["count"], counted["stale"]) == (before["count"] + 1, False)
    assert outside_state(vault_root) == outside
    follower.close()
    leader.close()
    assert_index_equals_files(vault_root)


def test_a_follower_repairs_the_mirror_when_its_leader_is_gone(
    vault_root: Path, raw_servers: Callable[..., RawServer]
) -> None:
    """The leader is killed right after the damage: the second server meets the damage
    itself, takes the lead and repairs the mirror; a message it stores meanwhile is
    acknowledged (the file holds it) and indexed after the repair."""
    leader, follower, before = two_servers(vault_root, raw_servers)
    index = vault_root / ".codearchitect" / "index"
    settle_into_file(index / "mirror.sqlite3")
    DAMAGE["sqlite_garbage_header"](index)
    leader.kill()

    stored = follower.call(
        "store_message",
        {"content": "stored during the repair: a wombat", "role": "user", "session": "s2"},
    )
    assert stored["success"], stored
    searched = follower.call("search_messages", {"query": "wombat"})
    assert searched["success"], searched

    def whole() -> bool:
        found = follower.call("search_messages", {"query": "wombat"})
        counted = follower.call("count_messages", {})
        return (found["total"], found["stale"], counted["count"], counted["stale"]) == (
            1,
            False,
            before["count"] + 1,
            False,
        )

    assert wait_until(whole, timeout=90)
    assert follower.call("index_status", {})["leader"] is True
    assert list(index.glob("mirror.sqlite3.corrupt-*"))
    # A new process reads the same mirror the follower wrote.
    stats = run_cli(vault_root, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["messages"] == before["count"] + 1
    follower.close()
    assert_index_equals_files(vault_root)


# Two threads of one process, each with its own mirror connection, doing what it is told.
_TWO_THREADS = """
import queue, sys, threading
from indexer import Indexer

ix = Indexer(sys.argv[1])  # no connection in the main thread: only a and b hold one
jobs = {"a": queue.Queue(), "b": queue.Queue()}
done = queue.Queue()

def work(name):
    while True:
        job = jobs[name].get()
        if job is None:
            return
        done.put(job())

threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in jobs]
for t in threads:
    t.start()
for line in sys.stdin:
    who, what = line.split()
    if what == "count":
        jobs[who].put(ix.count_messages)
    else:
        jobs[who].put(lambda: ix.append_message("s1", "user", "written after the swap").message.id)
    print(done.get(), flush=True)
"""


def test_a_process_that_follows_a_replaced_mirror_never_deletes_its_new_wal(
    vault_root: Path, raw_servers: Callable[..., RawServer]
) -> None:
    """SQLite's close of the last connection to a file in WAL mode deletes `<path>-wal`
    and `-shm` by name: after a swap those are the new mirror's. A process whose threads
    held connections to the damaged file, replaced by a command that has exited since,
    closes them as it meets the new file: a message one thread wrote to the new mirror,
    still only in its WAL, must stay visible to every new process after the other thread
    closed the last connection to the old file."""
    server = raw_servers(vault_root)
    seed(server, vault_root)
    assert wait_until(lambda: len(answers(server)["malformed"]) == 1, timeout=60)
    before = answers(server)["count"]
    server.close()
    child = subprocess.Popen(
        [sys.executable, "-c", _TWO_THREADS, str(vault_root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=server_env(),
    )
    assert child.stdin is not None and child.stdout is not None

    def ask(line: str) -> str:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(line + "\n")
        child.stdin.flush()
        return child.stdout.readline().strip()

    try:
        assert ask("a count") == ask("b count") == str(before)  # both threads connected
        index = vault_root / ".codearchitect" / "index"
        settle_into_file(index / "mirror.sqlite3")
        DAMAGE["sqlite_garbage_header"](index)
        reindexed = run_cli(vault_root, "reindex")  # moves it aside, rebuilds, exits
        assert reindexed.returncode == 0, reindexed.stderr
        assert list(index.glob("mirror.sqlite3.corrupt-*"))
        assert ask("a store").startswith("m")  # thread a: the new mirror, in its WAL
        assert ask("b count") == str(before + 1)  # thread b closes the last old connection
        stats = run_cli(vault_root, "stats", "--json")  # a new process, while a still runs
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["messages"] == before + 1
    finally:
        child.stdin.close()
        child.wait(30)
        child.stdout.close()
    assert_index_equals_files(vault_root)


def test_semantic_vectors_come_back_after_a_running_repair(
    vault_root: Path, raw_servers: Callable[..., RawServer]
) -> None:
    """The vectors' rows live in the mirror (by message pk): a new mirror has none. The
    leader embeds again, from the content-addressed cache, and search by meaning answers
    as before the damage, in both servers."""
    config = vault_root / ".codearchitect" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"semantic": {"enabled": True, "model": "hash"}}))
    leader = raw_servers(vault_root)
    seed(leader, vault_root)
    assert wait_until(lambda: len(answers(leader)["malformed"]) == 1, timeout=60)
    count = leader.call("count_messages", {})["count"]

    def meaning(server: RawServer) -> list[tuple[str, str]] | None:
        found = server.call("search_messages", {"query": "key rotation", "mode": "semantic"})
        if not found["success"] or found["stale"]:
            return None
        return sorted((h["session_id"], h["message_id"]) for h in found["hits"])

    def whole(server: RawServer) -> bool:
        semantic = server.call("index_status", {})["semantic"]
        counted = server.call("count_messages", {})
        return (semantic.get("pending"), semantic.get("embedded"), counted) == (
            0,
            count,
            {"success": True, "count": count, "stale": False},
        )

    assert wait_until(lambda: whole(leader), timeout=90)
    by_meaning = meaning(leader)
    assert by_meaning, "semantic search found nothing before the damage"
    follower = raw_servers(vault_root)
    follower.initialize()
    assert meaning(follower) == by_meaning
    index = vault_root / ".codearchitect" / "index"
    settle_into_file(index / "mirror.sqlite3")
    DAMAGE["sqlite_garbage_header"](index)

    def means_as_before(server: RawServer) -> bool:
        return meaning(server) == by_meaning

    for server in (leader, follower):
        assert wait_until(partial(whole, server), timeout=90)
        assert wait_until(partial(means_as_before, server), timeout=60)
    assert list(index.glob("mirror.sqlite3.corrupt-*"))
    follower.close()
    leader.close()
    assert_index_equals_files(vault_root)
