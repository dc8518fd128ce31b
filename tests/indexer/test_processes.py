"""Two server processes on one project: both write and search; nothing is lost."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from indexer import Indexer
from indexer.dump import expected_dump
from vault import Vault

from .conftest import FAST, wait_until

N = 30


def _serve(root: str, name: str, other: str, barrier: object, out: object) -> None:
    problems: list[str] = []
    ix = Indexer(root, FAST).start()
    try:
        barrier.wait()  # type: ignore[attr-defined]
        for n in range(N):
            word = f"{name}word{n}"
            ix.append_message(f"{name}-own", "user", f"{word} from {name}")
            ix.append_message("shared", "assistant", f"shared {name} {n}")
            if ix.search(word).total != 1:  # read-your-writes, leader or not
                problems.append(f"{name} missed its own {word}")
            ix.search(f"{other}word{n // 2}")  # concurrent search of the other's writes
        ix.append_message(f"{name}-own", "user", f"{name}done")
        if not wait_until(lambda: ix.search(f"{other}done").total == 1, timeout=10):
            problems.append(f"{name} never saw {other}done")
        if ix.count_messages("shared") != 2 * N:
            problems.append(f"{name} counted {ix.count_messages('shared')} shared messages")
        out.put((name, ix.is_leader, problems))  # type: ignore[attr-defined]
        barrier.wait()  # type: ignore[attr-defined]  # both report while both are alive
    finally:
        ix.close()


def test_two_processes_write_and_search_concurrently(vault: Vault) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_serve, args=(str(vault.root), a, b, barrier, out))
        for a, b in (("alpha", "beta"), ("beta", "alpha"))
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=100) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert [problems for _, _, problems in results] == [[], []]
    assert sorted(leader for _, leader, _ in results) == [False, True]
    with Indexer(vault, FAST) as ix:
        ix.reconcile()
        assert ix.flush(30)
        assert ix.count_messages() == 4 * N + 2
        assert ix.count_messages("shared") == 2 * N
        assert ix.search("shared", limit=1000).total == 2 * N
        for name in ("alpha", "beta"):
            assert ix.search(f"{name}word{N - 1}").total == 1
        assert ix.dump() == expected_dump(vault)
        assert ix.status().fulltext_documents == 4 * N + 2


def test_a_follower_takes_over_when_the_leader_goes(vault_root: Path) -> None:
    first = Indexer(vault_root, FAST).start()
    second = Indexer(vault_root, FAST).start()
    try:
        assert first.is_leader and not second.is_leader
        second.append_message("s", "user", "written by the follower")
        assert second.search("follower").total == 1
        first.close()
        assert wait_until(lambda: second.is_leader, timeout=5)
        assert second.flush(5)
        assert second.status().fulltext_pending == 0
        path = second.vault.locate("s")
        path.write_text(path.read_text().replace("follower", "successor"))
        assert wait_until(lambda: second.search("successor").total == 1, timeout=3)
    finally:
        first.close()
        second.close()
