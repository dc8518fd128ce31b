"""Scenario 6: `git checkout` between branches that differ by 300 sessions while a real
server's watcher runs. The index must converge to each branch: the mirror equal to a
fresh parse of the checked-out files, the full text agreeing, and no session counted twice.
Default: 2 round trips plus a burst of 6 checkouts; `make stress`: 10 and 20.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer import Indexer
from indexer.dump import expected_dump
from tests.helpers.servers import server_env
from vault import Message, SessionFile, Vault, dumps

from .conftest import FAST, RawServer, assert_index_equals_files, wait_until

TS = "2025-02-01T10:00:00.000Z"


def git(root: Path, *args: str) -> None:
    env = server_env(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "core.hooksPath=/dev/null",
            *args,
        ],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def write_session(folder: Path, sid: str, words: str) -> None:
    messages = tuple(
        Message(f"m{i}", "user" if i % 2 == 0 else "assistant", f"{words} {sid} line {i}", TS)
        for i in range(3)
    )
    session = SessionFile(id=sid, created=TS, title=sid, topic=sid, messages=messages)
    (folder / f"session-20250201-100000-{sid}.md").write_text(dumps(session))


def make_repo(root: Path, extra: int) -> None:
    """main: 5 sessions; branch `more`: those (one edited, one deleted) plus `extra` new."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    vault = Vault(root)
    vault.init()
    base = vault.sessions_dir / "2025-02-01"
    base.mkdir()
    for i in range(5):
        write_session(base, f"base{i}", "shared")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "more")
    folder = vault.sessions_dir / "2025-02-02"
    folder.mkdir()
    for i in range(extra):
        write_session(folder, f"extra{i:03d}", f"branchbee uniq{i:03d}")
    write_session(base, "base0", "edited on the branch")
    (base / "session-20250201-100000-base1.md").unlink()
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "more")
    git(root, "checkout", "-q", "main")


def converged(root: Path, server: RawServer, extra_expected: int) -> bool:
    vault = Vault(root)
    with Indexer(vault, FAST) as ix:
        if ix.dump() != expected_dump(vault):
            return False
    hits = server.call("search_messages", {"query": "branchbee", "limit": 1})
    if hits["total"] != 3 * extra_expected:
        return False
    sessions: int = server.call("count_messages", {})["count"]
    return sessions == sum(len(vault.get(s).messages) for s in vault.session_ids())


def storm(root: Path, start: Callable[..., RawServer], extra: int, trips: int, burst: int) -> None:
    make_repo(root, extra)
    server = start(root)
    server.initialize()
    assert wait_until(lambda: converged(root, server, 0), timeout=60)
    for _ in range(trips):
        git(root, "checkout", "-q", "more")
        assert wait_until(lambda: converged(root, server, extra), timeout=120), "never on more"
        hit = server.call("search_messages", {"query": "uniq007"})
        assert hit["total"] == 3 and len({h["session_id"] for h in hit["hits"]}) == 1
        git(root, "checkout", "-q", "main")
        assert wait_until(lambda: converged(root, server, 0), timeout=120), "never back on main"
    branch = "main"
    for _ in range(burst):  # back and forth without waiting
        branch = "more" if branch == "main" else "main"
        git(root, "checkout", "-q", branch)
    assert wait_until(lambda: converged(root, server, extra if branch == "more" else 0), 120)
    status = server.call("index_status", {})
    assert status["files_indexed"] == status["files_on_disk"]
    server.close()
    assert_index_equals_files(root)


def test_checkout_storm_converges(tmp_path: Path, raw_servers: Callable[..., RawServer]) -> None:
    storm(tmp_path / "repo", raw_servers, extra=300, trips=2, burst=6)


@pytest.mark.stress
@pytest.mark.timeout(1800)
def test_checkout_storm_converges_stress(
    tmp_path: Path, raw_servers: Callable[..., RawServer]
) -> None:
    storm(tmp_path / "repo", raw_servers, extra=300, trips=10, burst=20)
