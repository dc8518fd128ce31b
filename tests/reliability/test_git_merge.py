"""Issue 15: clones sharing a vault through git, with the session merge driver set up.

Two (and three) clones run rounds of random appends, patches, message deletions and new
sessions, each commit, then pull from each other by merge or rebase in random directions.
Invariants: git never stops on a conflict; every merge gives the same bytes whichever side
merges into which; after a last full sync every clone holds exactly the messages created
and not deleted, each once, in files that parse, with the same tree; the index of every
clone equals a rebuild from its files, and a running server's index converges. One clone
starts from files in an older layout (tests/golden). `make stress` runs many more rounds.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from indexer import Indexer
from indexer.dump import expected_dump
from tests.helpers.gitrepo import clone, git, isolate_git, new_repo, run_cli, setup_driver
from vault import Vault, parse

from .conftest import FAST, RawServer, assert_index_equals_files, wait_until

GOLDEN = Path(__file__).resolve().parents[1] / "gitshare" / "layout_v1"  # an older layout
OLD_LAYOUT = {
    "canonical_basic.md": "session-20250115-143022-authentication-implementation.md",
    "canonical_metadata.md": "session-20250115-143023-brand-new-session.md",
    "hand_edited.md": "session-20250115-143024-hand-made.md",
}


@pytest.fixture(autouse=True)
def _private_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(monkeypatch, tmp_path / "git-home")


@dataclass
class Ledger:
    """What the clones did: every message id acknowledged, every one deleted."""

    created: set[tuple[str, str]] = field(default_factory=set)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    sessions: int = 0


def all_messages(root: Path) -> list[tuple[str, str]]:
    """(session id, message id) of every message in the files (each file must parse)."""
    ids = []
    for path in Vault(root).session_paths():
        session = parse(path.read_bytes(), path).session
        ids += [(session.id, m.id) for m in session.messages]
    return ids


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    if git(repo, "status", "--porcelain").stdout.strip():
        git(repo, "commit", "-q", "-m", message)


def act(repo: Path, name: str, rng: random.Random, ledger: Ledger, ops: int) -> None:
    vault = Vault(repo)
    for _ in range(ops):
        sessions = sorted(vault.session_ids())
        roll = rng.random()
        if roll < 0.15 or not sessions:
            ledger.sessions += 1
            sid = f"{name}-s{ledger.sessions}"
            ledger.created.add((sid, vault.append_message(sid, "user", f"{sid} opens").message.id))
        elif roll < 0.65:
            sid = rng.choice(sessions)
            text = f"{name} says {rng.randrange(10**6)}"
            role = rng.choice(["user", "assistant"])
            ledger.created.add((sid, vault.append_message(sid, role, text).message.id))
        elif roll < 0.85:
            sid = rng.choice(sessions)
            vault.patch(
                sid,
                title=f"{name} title {rng.randrange(100)}" if rng.random() < 0.5 else None,
                tags=[f"{name}{rng.randrange(5)}", "shared"] if rng.random() < 0.5 else None,
                metadata={f"{name}-key": rng.randrange(100)},
            )
        else:
            sid = rng.choice(sessions)
            candidates = [m.id for m in vault.get(sid).messages if not m.id.startswith("h-")]
            if len(candidates) > 1:
                victim = rng.choice(candidates)
                vault.delete_message(sid, victim)
                ledger.deleted.add((sid, victim))


def both_directions_agree(judge: Path, x: Path, y: Path) -> None:
    """Merging x into y and y into x gives the same tree (the driver is symmetric)."""
    git(judge, "fetch", "-q", str(x), "+main:refs/heads/x")
    git(judge, "fetch", "-q", str(y), "+main:refs/heads/y")
    trees = []
    for first, second in (("x", "y"), ("y", "x")):
        git(judge, "checkout", "-q", "--detach", first)
        git(judge, "merge", "-q", "--no-edit", second)
        trees.append(git(judge, "rev-parse", "HEAD^{tree}").stdout)
    assert trees[0] == trees[1], "the two merge directions differ"


def pull(x: Path, y: Path, mode: str) -> None:
    """x takes y's main by merge or rebase; git must never stop."""
    if mode == "rebase":
        done = git(x, "pull", "-q", "--rebase", str(y), "main", check=False)
    else:
        done = git(x, "pull", "-q", "--no-rebase", "--no-edit", str(y), "main", check=False)
    assert done.returncode == 0, f"git stopped: {done.stdout}{done.stderr}"
    assert git(x, "ls-files", "-u").stdout == ""


def make_clones(tmp_path: Path, count: int) -> list[Path]:
    origin = new_repo(tmp_path / "c0", "c0")
    code, out = run_cli("init", "--root", str(origin))
    assert code == 0, out
    folder = Vault(origin).sessions_dir / "2025-01-15"
    folder.mkdir(parents=True)
    for golden, name in OLD_LAYOUT.items():
        shutil.copy(GOLDEN / golden, folder / name)
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "old layout")
    clones = [origin]
    for i in range(1, count):
        repo = clone(origin, tmp_path / f"c{i}", f"c{i}")
        setup_driver(repo)
        clones.append(repo)
    return clones


def converged(root: Path, server: RawServer) -> bool:
    vault = Vault(root)
    with Indexer(vault, FAST) as ix:
        if ix.dump() != expected_dump(vault):
            return False
    count = server.call("count_messages", {})["count"]
    return bool(count == len(all_messages(root)))


def storm(
    tmp_path: Path,
    start: Callable[..., RawServer] | None,
    *,
    clones: int,
    rounds: int,
    ops: int,
    seed: int,
) -> None:
    rng = random.Random(seed)
    repos = make_clones(tmp_path, clones)
    ledger = Ledger()
    ledger.created = set(all_messages(repos[0]))
    judge = clone(repos[0], tmp_path / "judge", "judge")
    setup_driver(judge)
    server = start(repos[0]) if start is not None else None
    if server is not None:
        server.initialize()
    for n in range(rounds):
        for i, repo in enumerate(repos):
            act(repo, f"c{i}", rng, ledger, rng.randint(1, ops))
            commit_all(repo, f"round {n} on c{i}")
        for _ in range(clones):
            x, y = rng.sample(repos, 2)
            mode = rng.choice(["merge", "rebase"])
            if mode == "merge":
                both_directions_agree(judge, x, y)
            pull(x, y, mode)
    # A last full sync: everyone takes everyone's work, then the first clone's.
    for repo in repos[1:]:
        pull(repos[0], repo, "merge")
    for repo in repos[1:]:
        pull(repo, repos[0], "merge")
    expected = sorted(ledger.created - ledger.deleted)
    tree = git(repos[0], "rev-parse", "HEAD^{tree}").stdout
    for repo in repos:
        assert git(repo, "rev-parse", "HEAD^{tree}").stdout == tree
        found = all_messages(repo)  # every file parses
        assert len(found) == len(set(found)), "a message is in the vault twice"
        assert sorted(found) == expected, "messages lost or brought back"
        code, out = run_cli("doctor", "--root", str(repo))
        assert code == 0, out
        assert_index_equals_files(repo)
    if server is not None:
        assert wait_until(lambda: converged(repos[0], server), timeout=120), "index never caught up"
        server.close()


def test_two_clones_merge_and_rebase_without_conflicts(
    tmp_path: Path, raw_servers: Callable[..., RawServer]
) -> None:
    storm(tmp_path, raw_servers, clones=2, rounds=4, ops=4, seed=15)


def test_three_clones_merge_and_rebase_without_conflicts(tmp_path: Path) -> None:
    storm(tmp_path, None, clones=3, rounds=3, ops=4, seed=151)


@pytest.mark.stress
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("clones,seed", [(2, 1501), (3, 1502)])
def test_clones_merge_and_rebase_without_conflicts_stress(
    tmp_path: Path, raw_servers: Callable[..., RawServer], clones: int, seed: int
) -> None:
    storm(tmp_path, raw_servers, clones=clones, rounds=30, ops=10, seed=seed)
