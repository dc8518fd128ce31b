"""Semantic search sees a message's tool calls and thinking (its search text), with the
tiny deterministic model; vectors made from the content alone are made again once."""

from __future__ import annotations

import pytest

from indexer import Indexer
from indexer.mirror import set_state
from tests.helpers.data import FIXTURES
from vault.importers import run_import

from .conftest import embed_all

CALL = {"name": "Bash", "arguments": {"command": "alembic upgrade head"}, "id": "toolu_1"}


def _seed(index: Indexer) -> tuple[str, str]:
    user = index.append_message("db", "user", "kettle descaling with vinegar")
    call = index.append_message("db", "assistant", "", {"toolCalls": [CALL]})
    return user.message.id, call.message.id


def test_a_tool_call_only_message_is_found_by_meaning_with_its_snippet(index: Indexer) -> None:
    _, call = _seed(index)
    embed_all(index)
    hits = index.search("alembic upgrade head", mode="semantic", limit=1).hits
    assert [h.message_id for h in hits] == [call]
    assert hits[0].snippet == "Bash: alembic upgrade head"
    found = index.search("alembic upgrade head", mode="semantic", tool="bash").hits
    assert [h.message_id for h in found] == [call]
    assert index.search("alembic upgrade head", mode="semantic", tool="Read").hits == ()


def test_vectors_of_the_content_alone_are_made_again_once(index: Indexer) -> None:
    user, call = _seed(index)
    embed_all(index)
    with index.mirror.write() as conn:  # as a vault embedded by the previous version
        set_state(conn, "vec_text", None)
    index.semantic.close_writer()
    assert index.embed_pending() == 1  # the message with a tool call, not the other
    with index.mirror.read() as conn:
        embedded = {
            r[0] for r in conn.execute("SELECT m.id FROM vec_msgs v JOIN messages m ON m.pk = v.pk")
        }
    assert embedded == {user, call}
    index.semantic.close_writer()
    assert index.embed_pending() == 0  # done once


def test_get_context_shows_the_call_and_its_result(index: Indexer) -> None:
    user, call = _seed(index)
    result = index.append_message(
        "db", "tool", "Running upgrade 3f2a -> 9c1d", {"toolUseId": "toolu_1", "toolName": "Bash"}
    )
    context = index.get_context("alembic upgrade head", 800, mode="keyword")
    (session,) = context.sessions
    shown = {m.message_id: m.content for m in session.messages}
    assert shown[call] == "🔧 Bash: alembic upgrade head"
    assert shown[result.message.id] == "← Bash\nRunning upgrade 3f2a -> 9c1d"
    assert shown.get(user, "kettle descaling with vinegar") == "kettle descaling with vinegar"


@pytest.mark.parametrize(
    ("question", "session", "call"),
    [
        ("which session ran mix phx.server?", "cc-tool_heavy", "Bash: mix phx.server"),
        ("which session ran mix phx.server?", "cc-short", "Bash: mix phx.server"),
        ("which session read app.js?", "cc-tool_heavy", "Read: /home/marco/projects/spotter"),
    ],
)
def test_natural_questions_find_the_tool_call_in_real_transcripts(
    index: Indexer, question: str, session: str, call: str
) -> None:
    # The Claude Code transcripts copied from marot/spotter (MIT) into tests/fixtures.
    run_import(index.vault, "claude-code", [FIXTURES / "claude_code" / "marot-spotter"])
    index.reconcile()
    embed_all(index)
    result = index.search(question, limit=3)  # the default mode: hybrid, once caught up
    assert result.mode == "hybrid"
    hits = result.hits
    assert any(
        h.session_id == session and h.role == "assistant" and h.snippet.startswith(call)
        for h in hits
    ), [(h.session_id, h.role, h.snippet[:60]) for h in hits]
