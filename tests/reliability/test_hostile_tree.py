"""`make stress`: random trees of links, special files and junk under `.codearchitect/`
while real servers run (issue 14, RELIABILITY.md scenario 26).

Each round plants a random set of hostile entries — links (absolute and `../..`-style) to
an outside folder, file or SQLite database, FIFOs, folders and junk where files belong —
some while a server runs, some into a stopped project's derived state (the server then
starts on it). Every call has a deadline; after every round nothing outside the project
has changed (checksummed) and every well-formed session is still searchable.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers.servers import run_cli

from .conftest import RawServer, tree, wait_until

pytestmark = pytest.mark.stress

ROUNDS = int(os.environ.get("CODEARCHITECT_HOSTILE_ROUNDS", "30"))
DERIVED = [
    "index",
    "index/fulltext",
    "index/mirror.sqlite3",
    "index/mirror.sqlite3-wal",
    "index/mirror.sqlite3-shm",
    "index/mirror.sqlite3.check",
    "index/leader.lock",
    "index/vectors",
    "index/fulltext/.tantivy-writer.lock",
    "index/fulltext/.tantivy-meta.lock",
    "index/fulltext/meta.json",
    "index/fulltext/x.tmp",
    "locks",
    "journal",
    "trash",
    "capture.log",
    "config.json",
]


def _outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    (folder / "sub").mkdir(parents=True)
    (folder / "precious.txt").write_text("do not touch\n")
    (folder / "sub" / "a.tmp").write_text("not ours\n")
    with sqlite3.connect(folder / "app.db") as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    return folder


def _session(sid: str, word: str) -> str:
    return (
        f"---\nid: {sid}\ncreated: 2025-01-15T14:30:22.123Z\ntitle: {sid}\n---\n\n"
        f"<!-- cam:msg role=user -->\n{word} here\n<!-- /cam:msg -->\n"
    )


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _plant(rng: random.Random, where: Path, outside: Path) -> str:
    """Put a random hostile entry at `where` (whatever was there is removed)."""
    if os.path.lexists(where):
        _remove(where)
    # Its folders must be real folders: an earlier round may have planted a file, a FIFO
    # or a link (planting through a link would write outside) where one of them goes.
    # Only folders below .codearchitect/ are looked at.
    folder = where.parent
    below = [folder, *folder.parents]
    below = below[: [p.name for p in below].index(".codearchitect")]
    for part in reversed(below):
        if os.path.lexists(part) and (part.is_symlink() or not part.is_dir()):
            _remove(part)
    folder.mkdir(parents=True, exist_ok=True)
    kind = rng.choice(["dir-link", "file-link", "db-link", "rel-link", "fifo", "folder", "junk"])
    if kind == "dir-link":
        where.symlink_to(outside, target_is_directory=True)
    elif kind == "file-link":
        where.symlink_to(outside / "precious.txt")
    elif kind == "db-link":
        where.symlink_to(outside / "app.db")
    elif kind == "rel-link":
        where.symlink_to("/".join([".."] * rng.randint(1, 4)), target_is_directory=True)
    elif kind == "fifo":
        os.mkfifo(where)
    elif kind == "folder":
        where.mkdir()
        (where / "junk.md").write_text("junk")
    else:
        where.write_bytes(os.urandom(rng.randint(0, 300)))
    return kind


def test_random_hostile_trees(tmp_path: Path, raw_servers: Callable[..., RawServer]) -> None:
    rng = random.Random(int(os.environ.get("CODEARCHITECT_HOSTILE_SEED", "14")))
    outer = tmp_path / "outer"
    project = outer / "project"
    (project / ".git").mkdir(parents=True)
    (project / "src").mkdir()
    (project / "src" / "main.py").write_text("print('sources')\n")
    (outer / "neighbour.txt").write_text("beside the project\n")
    outside = _outside(tmp_path)
    vault_dir = project / ".codearchitect"
    day = vault_dir / "sessions" / "2025-01-15"
    day.mkdir(parents=True)
    words: list[str] = []
    for n in range(5):
        (day / f"good-{n}.md").write_text(_session(f"good{n}", f"goodword{n}"))
        words.append(f"goodword{n}")

    def snapshot() -> tuple[object, ...]:
        return tree(outside), tree(outer, skip="project"), tree(project, skip=".codearchitect")

    before = snapshot()
    planted: dict[str, int] = {}
    server: RawServer | None = None
    for round_no in range(ROUNDS):
        if server is None or rng.random() < 0.3:
            # Stopped: plant into the derived state, then start on it.
            if server is not None:
                server.close()
            for name in rng.sample(DERIVED, rng.randint(1, 4)):
                kind = _plant(rng, vault_dir / name, outside)
                planted[kind] = planted.get(kind, 0) + 1
            server = raw_servers(project)
            server.initialize(timeout=60)
        # Running: plant into sessions/ (special files, links, junk) and local state.
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(
                [
                    f"sessions/2025-01-15/z-{rng.randint(0, 5)}.md",
                    f"sessions/2025-0{rng.randint(2, 3)}-01",
                    f"locks/{rng.randint(0, 3)}.lock",
                    f"journal/{datetime.now(UTC):%Y-%m-%d}.jsonl",
                    "trash",
                    "capture.log",
                ]
            )
            kind = _plant(rng, vault_dir / name, outside)
            planted[kind] = planted.get(kind, 0) + 1
        word = f"roundword{round_no}"
        stored = server.call(
            "store_message", {"content": word, "role": "user", "session": f"s{round_no}"}, 60
        )
        assert stored["success"], (round_no, stored)
        words.append(word)
        status = server.call("index_status", {}, timeout=60)
        assert status["success"], status

        def searchable(srv: RawServer = server) -> bool:
            return all(
                srv.call("search_messages", {"query": w}, timeout=60)["total"] >= 1 for w in words
            )

        assert wait_until(searchable, 60), f"round {round_no}: a session is not searchable"
        assert snapshot() == before, f"round {round_no}: something outside changed"
    assert server is not None
    server.close()
    for args in (["doctor", "--json"], ["reindex"], ["stats"]):
        done = run_cli(project, *args)
        assert "Traceback" not in done.stderr, (args, done.stderr)
    assert snapshot() == before
    print(f"hostile trees: {ROUNDS} rounds, planted {planted}, {len(words)} sessions searchable")
