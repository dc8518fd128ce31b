"""Fixtures for retrieval tests: the tiny deterministic model everywhere, the real
all-MiniLM-L6-v2 where it is installed (make test installs it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("numpy", reason="the 'semantic' extra is not installed")

from indexer import Indexer
from indexer.semantic import HashEmbedder, write_config
from indexer.semantic.minilm import minilm_dir

HAVE_MINILM = minilm_dir() is not None
needs_minilm = pytest.mark.skipif(not HAVE_MINILM, reason="all-MiniLM-L6-v2 wheel not installed")


@pytest.fixture
def index(vault_root: Path) -> Iterator[Indexer]:
    """An open (not started) index with semantic search on and the tiny model."""
    idx = Indexer(vault_root, embedder=HashEmbedder()).open()
    write_config(idx.vault.dir, enabled=True, model="hash")
    yield idx
    idx.close()


def embed_all(idx: Indexer) -> None:
    while idx.embed_pending():
        pass
