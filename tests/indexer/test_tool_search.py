"""Tool calls, tool results and thinking are searched; the `tool` filter (issue 13 item 2).

On the real Claude Code transcripts copied into tests/fixtures (marot/spotter, MIT): the
questions a developer asks of coding-agent history ("which session ran `mix phx.server`?",
"which session read app.js?") find the assistant message holding the call.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from indexer import Indexer
from tests.helpers.data import FIXTURES
from tests.helpers.polling import PATIENCE
from vault import InvalidInput, Vault
from vault.importers import run_import

SPOTTER = FIXTURES / "claude_code" / "marot-spotter"


def _clock() -> datetime:
    return datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def imported(vault: Vault, ix: Indexer) -> Indexer:
    run_import(vault, "claude-code", [SPOTTER], clock=_clock)
    ix.reconcile()
    assert ix.flush(PATIENCE)
    return ix


def _calls(path: Path) -> Counter[str]:
    """tool_use blocks per tool name, and tool_result blocks per the name of their call,
    read from a transcript with plain json (not the importer)."""
    names: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        content = rec.get("message", {}).get("content") if isinstance(rec, dict) else None
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_use":
                names[block["id"]] = block["name"]
                counts[block["name"]] += 1
            elif block.get("type") == "tool_result" and block["tool_use_id"] in names:
                counts[names[block["tool_use_id"]]] += 1
    return counts


def test_a_command_run_by_a_tool_call_finds_its_session(imported: Indexer) -> None:
    hits = imported.search('"mix phx.server"', role="assistant", limit=50).hits
    by_session = {h.session_id for h in hits}
    assert {"cc-tool_heavy", "cc-short"} <= by_session
    call = next(h for h in hits if h.session_id == "cc-tool_heavy")
    message = next(m for m in imported.get_messages("cc-tool_heavy") if m.id == call.message_id)
    assert message.content == ""  # found by its tool call alone
    assert message.metadata["toolCalls"][0]["arguments"]["command"] == "mix phx.server"
    assert call.snippet.startswith("Bash: ")


def test_a_file_read_by_a_tool_call_finds_its_session(imported: Indexer) -> None:
    hits = imported.search('"assets/js/app.js"', tool="Read", limit=50).hits
    assert {h.session_id for h in hits} == {"cc-tool_heavy"}
    assert [h.role for h in hits] == ["assistant"]


def test_thinking_is_searched(imported: Indexer) -> None:
    hits = imported.search('"outer webpage is catching scroll events"', limit=5).hits
    assert [(h.session_id, h.role) for h in hits] == [("cc-tool_heavy", "assistant")]


def test_tool_results_are_searched_under_role_tool(imported: Indexer) -> None:
    hits = imported.search('"REFUSED JOIN"', role="tool", tool="bash", limit=50).hits
    assert hits and all(h.role == "tool" for h in hits)
    assert "cc-tool_heavy" in {h.session_id for h in hits}


def test_the_tool_filter_counts_calls_and_results(imported: Indexer) -> None:
    expected: Counter[str] = Counter()
    for path in SPOTTER.glob("*.jsonl"):
        expected += _calls(path)
    assert expected["Bash"] > 5 and expected["Read"] > 0
    for name, count in expected.items():
        assert imported.count_messages(tool=name) == count, name
        assert imported.count_messages(tool=name.upper()) == count, name
    assert imported.count_messages(tool="NoSuchTool") == 0
    heavy = _calls(SPOTTER / "tool_heavy.jsonl")
    assert imported.count_messages("cc-tool_heavy", tool="Bash") == heavy["Bash"]
    results = imported.count_messages("cc-tool_heavy", role="tool", tool="Bash")
    assert 0 < results < heavy["Bash"]  # the calls are assistant messages


def test_keyword_search_with_the_tool_filter_matches_the_count(imported: Indexer) -> None:
    found = imported.search("phoenix OR mix OR server", tool="bash", limit=1000, mode="keyword")
    assert found.total == len(found.hits) > 0
    assert found.total <= imported.count_messages(tool="Bash")
    for hit in found.hits:
        message = next(m for m in imported.get_messages(hit.session_id) if m.id == hit.message_id)
        names = [c["name"] for c in message.metadata.get("toolCalls", [])]
        assert "Bash" in names or message.metadata.get("toolName") == "Bash"


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201, 3])
def test_a_bad_tool_filter_is_invalid_input(imported: Indexer, bad: object) -> None:
    with pytest.raises(InvalidInput):
        imported.search("mix", tool=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        imported.count_messages(tool=bad)  # type: ignore[arg-type]


def test_editing_a_tool_call_and_its_view_reindexes_it(vault: Vault, imported: Indexer) -> None:
    # The call's metadata and its view line changed together: the content is the same, so
    # only the metadata tells the index that the message changed.
    (path,) = [p for p in vault.session_paths() if "start-phoenix" in p.name]
    text = path.read_text(encoding="utf-8")
    assert text.count("mix phx.server") == 2  # in the cam:meta JSON and in the view
    path.write_text(text.replace("mix phx.server", "mix ecto.migrate"), encoding="utf-8")
    imported.reconcile()
    assert imported.flush(PATIENCE)
    hits = imported.search('"mix ecto.migrate"', limit=10).hits
    assert [h.session_id for h in hits] == ["cc-tool_heavy"]
    message = next(m for m in imported.get_messages("cc-tool_heavy") if m.id == hits[0].message_id)
    assert message.content == "" and not message.edited
    assert "cc-tool_heavy" not in {h.session_id for h in imported.search('"mix phx.server"').hits}


@pytest.mark.parametrize(
    ("question", "session", "call"),
    [
        ("which session ran mix phx.server?", "cc-tool_heavy", "Bash: mix phx.server"),
        ("which session ran mix phx.server?", "cc-short", "Bash: mix phx.server"),
        ("which session read app.js?", "cc-tool_heavy", "Read: /home/marco/projects/spotter"),
    ],
)
def test_natural_questions_find_the_tool_call_in_keyword_mode(
    imported: Indexer, question: str, session: str, call: str
) -> None:
    hits = imported.search(question, limit=3, mode="keyword").hits
    assert any(
        h.session_id == session and h.role == "assistant" and h.snippet.startswith(call)
        for h in hits
    ), [(h.session_id, h.role, h.snippet[:60]) for h in hits]
