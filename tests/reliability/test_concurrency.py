"""Scenario 3: several real `codearchitect serve` processes writing at once.

tests/vault/test_processes.py runs 4 bare vault writers × 200 appends; here each writer is
a real MCP server process driven by the SDK's stdio client (the four clients run as anyio
tasks in this process; the servers, which do the writing, are separate processes). The
default run uses 4 × 50 messages; `make stress` runs 4 × 500.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.helpers.polling import PATIENCE
from tests.helpers.servers import server_params
from vault import Vault

from .conftest import assert_index_equals_files

pytestmark = pytest.mark.anyio


class Barrier:
    """Start every writer at once, once all servers are up."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.event = anyio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived == self.parties:
            self.event.set()
        await self.event.wait()


async def ok(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    data = dict(result.structured_content or {})
    assert not result.is_error, data
    return data


async def write(
    root: Path,
    tag: str,
    count: int,
    session: str,
    barrier: Barrier,
    acked: list[tuple[str, str]],
    behind: set[str] | None = None,
) -> None:
    """Store `count` messages; `acked` gets (id, word) of each, `behind` the words whose
    ack said INDEX_BEHIND (in the file, but the mirror was busy past the writer's patience:
    another process finds them once the leader's watcher has indexed the file)."""
    async with Client(server_params(root)) as client:
        await barrier.wait()
        for i in range(count):
            data = await ok(
                client,
                "store_message",
                {"content": f"common {tag}w{i}", "role": "user", "session": session},
            )
            codes = {w["code"] for w in data.get("warnings", [])}
            if behind is not None and "INDEX_BEHIND" in codes:
                behind.add(f"{tag}w{i}")
            acked.append((data["message"]["id"], f"{tag}w{i}"))


async def four_writers_one_session(root: Path, count: int) -> None:
    tags = ["alpha", "beta", "gamma", "delta"]
    acked: list[tuple[str, str]] = []
    barrier = Barrier(len(tags))
    async with anyio.create_task_group() as tg:
        for tag in tags:
            tg.start_soon(write, root, tag, count, "shared", barrier, acked)
    session = Vault(root).get("shared")
    contents = [m.content for m in session.messages]
    assert len(contents) == 4 * count
    assert len(set(contents)) == 4 * count, "a message is stored twice"
    for tag in tags:
        mine = [int(c.split(f"{tag}w")[1]) for c in contents if f" {tag}w" in c]
        assert mine == list(range(count)), f"writer {tag}'s order broken"
    assert {mid for mid, _ in acked} == {m.id for m in session.messages}
    assert len(list(Vault(root).session_paths())) == 1
    assert_index_equals_files(root)
    async with Client(server_params(root)) as client:
        assert (await ok(client, "count_messages", {"session": "shared"}))["count"] == 4 * count
        hits = await ok(client, "search_messages", {"query": "common", "limit": 1})
        assert hits["total"] == 4 * count


async def test_four_servers_append_to_one_session(vault_root: Path) -> None:
    await four_writers_one_session(vault_root, 50)


@pytest.mark.stress
@pytest.mark.timeout(900)
async def test_four_servers_append_to_one_session_stress(vault_root: Path) -> None:
    await four_writers_one_session(vault_root, 500)


async def search_while_writing(
    root: Path,
    done: anyio.Event,
    acked: list[tuple[str, str]],
    behind: set[str],
    problems: list[str],
) -> int:
    """A fifth server searches: what another server acknowledged is found (read-your-
    writes across processes; an ack that said INDEX_BEHIND once the leader indexed its
    file, polled for), and a count of matches never goes down."""
    rng = random.Random(7)
    searches = 0
    last_total = 0

    async def hits(query: str) -> int:
        return int((await ok(client, "search_messages", {"query": query}))["total"])

    async def eventually(query: str, total: int) -> int:
        deadline = time.monotonic() + PATIENCE
        found = await hits(query)
        while found != total and time.monotonic() < deadline:
            await anyio.sleep(0.1)
            found = await hits(query)
        return found

    async with Client(server_params(root)) as client:
        while not done.is_set():
            if acked:
                _, word = acked[rng.randrange(max(0, len(acked) - 5), len(acked))]
                found = await eventually(word, 1) if word in behind else await hits(word)
                if found != 1:
                    problems.append(f"{word}: {found} hits")
            data = await ok(client, "search_messages", {"query": "common", "limit": 1})
            if data["total"] < last_total:
                problems.append(f"'common' went from {last_total} to {data['total']} hits")
            last_total = data["total"]
            searches += 1
        # Once the writers are done, everything is there (what was acked INDEX_BEHIND once
        # the leader indexed it).
        final = await eventually("common", len(acked)) if behind else await hits("common")
        if final != len(acked):
            problems.append(f"final count {final} != {len(acked)}")
    return searches


async def four_writers_and_a_searcher(root: Path, count: int) -> None:
    tags = ["alpha", "beta", "gamma", "delta"]
    acked: list[tuple[str, str]] = []
    behind: set[str] = set()
    problems: list[str] = []
    searches: list[int] = []
    done = anyio.Event()
    barrier = Barrier(len(tags))

    async def searcher() -> None:
        searches.append(await search_while_writing(root, done, acked, behind, problems))

    async def writers() -> None:
        async with anyio.create_task_group() as tg:
            for tag in tags:
                tg.start_soon(write, root, tag, count, f"own-{tag}", barrier, acked, behind)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(searcher)
        tg.start_soon(writers)
    assert problems == []
    assert searches and searches[0] > 0
    vault = Vault(root)
    for tag in tags:
        contents = [m.content for m in vault.get(f"own-{tag}").messages]
        assert contents == [f"common {tag}w{i}" for i in range(count)]
    assert_index_equals_files(root)


async def test_four_servers_write_while_a_fifth_searches(vault_root: Path) -> None:
    await four_writers_and_a_searcher(vault_root, 50)


@pytest.mark.stress
@pytest.mark.timeout(900)
async def test_four_servers_write_while_a_fifth_searches_stress(vault_root: Path) -> None:
    await four_writers_and_a_searcher(vault_root, 500)


def test_servers_starting_together_on_a_new_vault(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the test above: two servers starting at once on a fresh project both saw no
    `.gitignore`; the loser's exclusive create failed and its server exited. The race is
    replayed here: the file appears between the check and the create."""
    from vault import files as vfiles

    first = Vault(vault_root)
    first.init()
    real = vfiles.stat_file
    monkeypatch.setattr(
        vfiles,
        "stat_file",
        lambda p: None if p.name == ".gitignore" else real(p),
    )
    Vault(vault_root).init()  # must not raise
    monkeypatch.undo()
    assert (first.dir / ".gitignore").read_text().startswith("# Written by codearchitect")
