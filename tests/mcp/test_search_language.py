"""The search language where people meet it: the README's tour, the tool and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp import Client

from mcp_server.cli import cli

pytestmark = pytest.mark.anyio


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("topic", ["JWT key rotation", None])
async def test_the_readme_tour_finds_its_message(
    client: Client, vault_root: Path, topic: str | None
) -> None:
    args: dict[str, object] = {
        "conversation": "User: How do we rotate JWT keys?\nAI: Keep two keys..."
    }
    if topic is not None:
        args["topic"] = topic
    stored = await client.call_tool("store_session", args)
    assert not stored.is_error
    code, out = run("search", "key rotation", "--root", str(vault_root), "--json")
    assert code == 0, out
    hits = json.loads(out)["hits"]
    assert hits[0]["snippet"].startswith("How do we rotate JWT keys")


async def test_the_tool_reads_a_question_with_a_stray_quote(client: Client) -> None:
    await client.call_tool(
        "store_message",
        {
            "content": "Joanna: I watched Eternal Sunshine of the Spotless Mind again",
            "role": "user",
        },
    )
    result = await client.call_tool(
        "search_messages",
        {"query": 'When did Joanna first watch "Eternal Sunshine of the Spotless Mind?'},
    )
    data = result.structured_content
    assert not result.is_error and data is not None
    assert data["hits"][0]["snippet"].startswith("Joanna: I watched Eternal Sunshine")
    empty = await client.call_tool("search_messages", {"query": "   "})
    assert empty.is_error and empty.structured_content["error"] == "INVALID_QUERY"


def test_a_query_starting_with_a_dash_needs_no_double_dash(vault_root: Path) -> None:
    from vault import Vault

    vault = Vault(vault_root)
    vault.append_message("s", "user", "the flaky login test again")
    vault.append_message("s", "assistant", "rotate the signing key")
    root = str(vault_root)
    code, out = run("search", "-flaky", "--root", root, "--json")
    assert code == 0, out
    assert [h["snippet"] for h in json.loads(out)["hits"]] == ["rotate the signing key"]
    code, out = run("search", "--root", root, "-flaky", "--role", "assistant", "--json")
    assert code == 0 and len(json.loads(out)["hits"]) == 1
    code, out = run("search", "--root", root, "--json", "--", "-flaky")
    assert code == 0 and len(json.loads(out)["hits"]) == 1
