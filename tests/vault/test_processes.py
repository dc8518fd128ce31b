"""Real processes: concurrent writers to one session, and SIGKILL at random points."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.polling import PATIENCE, wait_until
from vault import Vault, parse

REPO = Path(__file__).resolve().parents[2]


def spawn(root: Path, session: str, count: int, tag: str, size: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.helpers.writer",
            str(root),
            session,
            str(count),
            tag,
            str(size),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_four_processes_append_to_one_session(vault_root: Path) -> None:
    Vault(vault_root).append_message("shared", "system", "start")
    procs = [spawn(vault_root, "shared", 200, f"w{i}") for i in range(4)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append([line for line in out.splitlines() if line != "ready"])
    session = Vault(vault_root).get("shared")
    contents = [m.content for m in session.messages[1:]]
    assert len(contents) == 800
    assert len(set(contents)) == 800
    for i in range(4):
        mine = [int(c.split()[1]) for c in contents if c.startswith(f"w{i} ")]
        assert mine == list(range(200)), f"writer {i} order broken"
    acked = {mid for out in outputs for mid in out}
    assert acked == {m.id for m in session.messages[1:]}
    assert len(list(Vault(vault_root).session_paths())) == 1


def kill_rounds(root: Path, rounds: int, seed: int) -> None:
    """Each round a writer (forked from one warm interpreter, see tests/helpers/writer.py)
    appends until it is killed at a random point; what it acknowledged must be there."""
    rng = random.Random(seed)
    acked: list[str] = []
    vault = Vault(root)
    vault.append_message("crash", "system", "start")
    path = vault.locate("crash")
    forks = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.writer", "--forks"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert forks.stdin is not None and forks.stdout is not None
    try:
        for n in range(rounds):
            size = rng.choice([0, 100, 20_000, 300_000])
            out = root.parent / f"acked-{n}.txt"
            forks.stdin.write(f"{root} crash 10000 c {size} {out}\n")
            forks.stdin.flush()
            pid = int(forks.stdout.readline())

            def ready(out: Path = out) -> bool:
                return out.exists() and out.read_text().startswith("ready\n")

            assert wait_until(ready)
            time.sleep(rng.uniform(0, 0.05))
            os.kill(pid, signal.SIGKILL)
            forks.stdin.write(f"wait {pid}\n")
            forks.stdin.flush()
            assert forks.stdout.readline().strip() == "done"
            # Only whole lines were acknowledged (an id is printed after its append returned).
            lines = out.read_text().split("\n")[1:-1]
            acked.extend(lines)
            # Every file state a crash leaves parses: whole blocks, maybe a torn unacked tail.
            parsed = parse(path.read_bytes(), path)
            ids = [m.id for m in parsed.session.messages]
            assert len(ids) == len(set(ids))
            missing = set(acked) - set(ids)
            assert not missing, f"acknowledged messages lost: {sorted(missing)[:3]}"
    finally:
        forks.stdin.close()
        forks.wait(PATIENCE)
        forks.stdout.close()
    final = Vault(root).get("crash")
    assert set(acked) <= {m.id for m in final.messages}
    assert all(not m.edited for m in final.messages)


def test_sigkill_at_random_points_never_loses_an_ack(vault_root: Path) -> None:
    kill_rounds(vault_root, rounds=100, seed=1234)


@pytest.mark.stress
def test_sigkill_stress(vault_root: Path) -> None:
    kill_rounds(vault_root, rounds=500, seed=int(time.time()))
