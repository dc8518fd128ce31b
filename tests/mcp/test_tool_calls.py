"""Tool calls through the MCP tools and the command line: stored with their metadata,
searched by name and argument, filtered by `tool`, printed by `codearchitect show`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mcp import Client

from mcp_server.cli import cli
from tests.helpers.data import FIXTURES

from .test_tools import call, files_under

CALL = {
    "name": "Bash",
    "arguments": {"command": "alembic upgrade head", "description": "Apply migrations"},
    "id": "toolu_1",
}


async def _seed(client: Client) -> None:
    for role, content, meta in (
        ("user", "Run the migration please", {}),
        ("assistant", "", {"thinking": "Migrations first.", "toolCalls": [CALL]}),
        ("tool", "Running upgrade 3f2a -> 9c1d", {"toolUseId": "toolu_1", "toolName": "Bash"}),
        ("assistant", "Done.", {}),
    ):
        err, _ = await call(
            client,
            "store_message",
            {"session": "db-work", "role": role, "content": content, "metadata": meta},
        )
        assert not err


@pytest.mark.anyio
async def test_search_and_count_by_tool_over_mcp(client: Client) -> None:
    await _seed(client)
    _, data = await call(client, "search_messages", {"query": "alembic upgrade"})
    assert data["hits"][0]["role"] == "assistant"  # both words: first
    assert "Bash: alembic upgrade head" in data["hits"][0]["snippet"]
    _, data = await call(client, "search_messages", {"query": "+alembic +upgrade"})
    assert [h["role"] for h in data["hits"]] == ["assistant"]
    _, data = await call(client, "search_messages", {"query": "migrations", "tool": "bash"})
    assert [h["role"] for h in data["hits"]] == ["assistant"]  # by its thinking and argument
    _, data = await call(client, "search_messages", {"query": "upgrade", "role": "tool"})
    assert [h["snippet"] for h in data["hits"]] == ["Running upgrade 3f2a -> 9c1d"]
    _, data = await call(client, "search_messages", {"query": "upgrade", "tool": "Edit"})
    assert data["hits"] == []
    _, data = await call(client, "count_messages", {"tool": "BASH"})
    assert data["count"] == 2
    _, data = await call(client, "count_messages", {"session": "db-work", "tool": "Read"})
    assert data["count"] == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("search_messages", {"query": "x", "tool": ""}),
        ("search_messages", {"query": "x", "tool": "x" * 201}),
        ("count_messages", {"tool": ""}),
        ("count_messages", {"tool": 7}),
    ],
)
async def test_a_bad_tool_filter_is_invalid_input(
    client: Client, vault_root: Path, tool: str, args: dict[str, Any]
) -> None:
    before = files_under(vault_root)
    err, data = await call(client, tool, args)
    assert err and data["error"] == "INVALID_INPUT" and "tool" in json.dumps(data)
    assert files_under(vault_root) == before


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_show_prints_thinking_calls_and_results_and_no_empty_message(vault_root: Path) -> None:
    source = FIXTURES / "claude_code" / "marot-spotter" / "tool_heavy.jsonl"
    _run("import", "claude-code", str(source), "--root", str(vault_root))
    out = _run("show", "cc-tool_heavy", "--root", str(vault_root))
    assert "🔧 Bash: mix phx.server\n    description: Start Phoenix server in background" in out
    assert "🔧 Read: /home/marco/projects/spotter/assets/js/app.js" in out
    assert "💭 thinking:\n  │ The user wants me to research why scrolling" in out
    assert "← Bash\nCommand running in background with ID: bae407b." in out
    bodies = re.split(r"\n--- (?:#\d+ )?(?:user|assistant|system|tool) · \S+\n", out)[1:]
    assert len(bodies) == 23 and all(body.strip() for body in bodies)

    out = _run("search", "phx.server", "--tool", "bash", "--root", str(vault_root), "--json")
    hits = json.loads(out)["hits"]
    assert [(h["session_id"], h["role"]) for h in hits] == [("cc-tool_heavy", "assistant")]
    assert hits[0]["snippet"].startswith("Bash: mix phx.server")
