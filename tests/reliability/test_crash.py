"""Scenario 1: kill -9 of a writing `codearchitect serve` at random points.

tests/vault/test_processes.py kills bare `Vault` writers; here the process killed is the
real MCP server, which also owns the SQLite mirror, the tantivy writer (as leader) and the
watcher. What the client got an answer for was acknowledged: it must be in its file exactly
once, whole and unedited; every file must parse; and after a reconcile the index (mirror and
full text) must equal the files. Each round's successor server starts on the state the
killed one left (stale locks, a torn tail, a half-written SQLite transaction).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from vault import Vault, parse

from .conftest import RawServer, assert_index_equals_files

SIZES = [0, 100, 20_000, 200_000]
PER_SESSION = 10  # rounds per session, so no file nears the 20 MB cap


def _write_until_killed(
    server: RawServer, session: str, tag: str, size: int, acked: dict[str, str]
) -> None:
    """Append until the server dies; record what was acknowledged (id -> content)."""
    try:
        server.initialize(timeout=60)
        i = 0
        while True:
            content = f"{tag} n{i}\n" + "x" * size
            result = server.call(
                "store_message", {"content": content, "role": "user", "session": session}
            )
            assert result["success"], result
            acked[result["message"]["id"]] = content
            i += 1
    except (TimeoutError, OSError, ValueError):
        return  # the server was killed: whatever had no answer was never acknowledged


def check_files(root: Path, acked: dict[str, str]) -> None:
    vault = Vault(root)
    seen: dict[str, str] = {}
    for path in vault.session_paths():
        parsed = parse(path.read_bytes(), path)  # raises if a crash left an unparsable file
        for m in parsed.session.messages:
            assert m.id not in seen, f"message {m.id} is stored twice"
            assert not m.edited, f"message {m.id} is not whole"
            seen[m.id] = m.content
    missing = [mid for mid in acked if mid not in seen]
    assert not missing, f"acknowledged messages lost: {missing[:3]}"
    assert all(seen[mid] == content for mid, content in acked.items())


def kill_rounds(
    root: Path,
    start: Callable[..., RawServer],
    rounds: int,
    seed: int,
    acked: dict[str, str] | None = None,
    first: int = 0,
) -> dict[str, str]:
    rng = random.Random(seed)
    acked = {} if acked is None else acked
    for r in range(first, first + rounds):
        server = start(root)
        size = rng.choice(SIZES)
        writer = threading.Thread(
            target=_write_until_killed,
            args=(server, f"crash-{r // PER_SESSION}", f"r{r}", size, acked),
        )
        writer.start()
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0, 1.5))  # often during start-up: reconcile, leadership
        else:
            while not acked and writer.is_alive():
                time.sleep(0.01)  # the first round must leave something to check
            time.sleep(rng.uniform(0.3, 1.6))
        server.kill()
        writer.join(60)
        assert not writer.is_alive()
        check_files(root, acked)
    return acked


def test_kill_server_mid_write(tmp_path: Path, vault_root: Path, raw_servers) -> None:
    acked = kill_rounds(vault_root, raw_servers, rounds=12, seed=20250115)
    assert acked
    assert_index_equals_files(vault_root)
    # A fresh server agrees with the files too (its start-up reconcile).
    server = raw_servers(vault_root)
    server.initialize()
    total = server.call("count_messages", {})
    assert total["count"] == sum(
        len(parse(p.read_bytes(), p).session.messages) for p in Vault(vault_root).session_paths()
    )
    server.close()


@pytest.mark.stress
@pytest.mark.timeout(1800)
def test_kill_server_mid_write_stress(vault_root: Path, raw_servers) -> None:
    seed = int(time.time())
    print(f"seed {seed}")
    acked: dict[str, str] = {}
    for chunk in range(4):
        kill_rounds(vault_root, raw_servers, 55, seed + chunk, acked, first=chunk * 55)
        assert_index_equals_files(vault_root)
    assert len(acked) > 200
