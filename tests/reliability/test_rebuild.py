"""Scenario 8: the index is disposable. Delete it, or corrupt the SQLite mirror or the
tantivy folder, and a restarted server rebuilds to the same answers for a fixed query set.

tests/indexer/test_sync.py checks `Indexer.rebuild()` after deleting the index and a mirror
whose header is garbage; here the server process does it by itself at start-up, and the
corruption is also inside the file (a damaged page, a cut-off file, a lost WAL) and in the
tantivy folder.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import RawServer, assert_index_equals_files, wait_until

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
        out[q] = (r["total"], sorted((h["session_id"], h["message_id"]) for h in r["hits"]))
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
