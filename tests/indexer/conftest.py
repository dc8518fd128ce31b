"""Fixtures: a vault in tmp_path, an indexer without background threads, a started one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from indexer import Indexer
from tests.helpers import polling, settings
from vault import Vault

FAST = settings.FAST


@pytest.fixture
def vault(vault_root: Path) -> Vault:
    v = Vault(vault_root)
    v.init()
    return v


@pytest.fixture
def ix(vault: Vault) -> Iterator[Indexer]:
    """An indexer with no background work: tests call reconcile()/flush() themselves."""
    indexer = Indexer(vault, FAST).open()
    yield indexer
    indexer.close()


@pytest.fixture
def live(vault: Vault) -> Iterator[Indexer]:
    """A started indexer: leader, watcher, full-text absorption."""
    indexer = Indexer(vault, FAST).start()
    yield indexer
    indexer.close()


def wait_until(
    check: Callable[[], bool], timeout: float = polling.PATIENCE, step: float = 0.02
) -> bool:
    """Poll `check` until it is true or the deadline passes."""
    return polling.wait_until(check, timeout, step)


def session_text(session_id: str, title: str, *messages: tuple[str, str, str, str]) -> str:
    """A session file as a person might write it: (id, role, ts, content) per block."""
    head = f"---\nid: {session_id}\ntitle: {title}\ncreated: 2025-01-15T10:00:00.000Z\n---\n"
    body = ""
    for mid, role, ts, content in messages:
        body += f"\n<!-- cam:msg id={mid} role={role} ts={ts} -->\n{content}\n<!-- /cam:msg id={mid} -->\n"
    return head + f"\n# {title}\n" + body
