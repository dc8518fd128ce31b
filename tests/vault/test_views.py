"""Thinking and tool calls in the file: visible views derived from the metadata.

A message's `thinking` is written as a quote before its content and each of its
`toolCalls` as a quoted list item after it; the parser skips them when they are exactly
what the metadata gives, so the content still round-trips, and anything a person changes
in them is kept as content (docs/format.md, "Thinking and tool calls").
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from vault import Message, SessionFile, dumps, loads
from vault.message_views import plain_text, search_text, tool_names

GOLDEN = Path(__file__).parent.parent / "golden"
TS = "2025-03-02T10:00:00.000Z"
CALL = {
    "name": "Bash",
    "arguments": {"command": "alembic upgrade head", "description": "Apply migrations"},
    "id": "toolu_1",
}


def _visible(text: str) -> str:
    """What a markdown viewer shows: the file without its HTML comment lines."""
    return "\n".join(line for line in text.split("\n") if not line.startswith("<!--"))


def _one(message: Message) -> str:
    return dumps(SessionFile(id="s", created=TS, messages=(message,)))


def test_a_file_written_before_views_parses_unchanged_and_renders_them_now() -> None:
    old = (GOLDEN / "v1_canonical_metadata.md").read_bytes()
    new = (GOLDEN / "canonical_metadata.md").read_bytes()
    assert b"\xf0\x9f\x94\xa7" not in old  # the old file has no view at all
    assert loads(old) == loads(new)
    assert not any(m.edited for m in loads(old).messages)
    assert dumps(loads(old)).encode("utf-8") == new


def test_tool_calls_and_thinking_are_visible_outside_html_comments() -> None:
    text = (GOLDEN / "canonical_tool_calls.md").read_text(encoding="utf-8")
    shown = _visible(text)
    for needle in (
        "> **Thinking**",
        "> 2. run `alembic upgrade head`",
        "> - 🔧 **Bash** `alembic upgrade head` · description: `Apply migrations`",
        "> - 🔧 **Edit** `/srv/app/auth.py`",
        "**`mcp__github__search_code`** ``uses `auth.login` -- here``",
        "→ error: `No such file`",
        "> - ↳ result → `a result without its call`",
    ):
        assert needle in shown, needle


def test_no_message_of_the_golden_files_shows_an_empty_heading() -> None:
    # Every block with a thinking or a tool call has something under its heading.
    for path in (GOLDEN / "canonical_tool_calls.md", GOLDEN / "canonical_metadata.md"):
        text = path.read_text(encoding="utf-8")
        for block in re.findall(r"^### Assistant[^\n]*\n(.*?)^<!-- /cam:msg", text, re.M | re.S):
            assert block.strip(), path.name


def test_an_edited_call_line_is_kept_as_content() -> None:
    message = Message("a1", "assistant", "Running it.", TS, {"toolCalls": [CALL]})
    text = _one(message)
    edited = text.replace("`alembic upgrade head`", "`alembic upgrade head --sql`")
    (back,) = loads(edited).messages
    assert back.edited
    assert back.metadata == message.metadata
    assert back.content == (
        "Running it.\n\n> - 🔧 **Bash** `alembic upgrade head --sql` · "
        "description: `Apply migrations`"
    )


def test_an_edited_thinking_is_kept_as_content_and_the_calls_still_recognised() -> None:
    meta = {"thinking": "Plan: migrate.", "toolCalls": [CALL]}
    text = _one(Message("a1", "assistant", "Sure.", TS, meta))
    (back,) = loads(text.replace("> Plan: migrate.", "> Plan: migrate first.")).messages
    assert back.edited
    assert back.content == "> **Thinking**\n>\n> Plan: migrate first.\n\nSure."


def test_editing_the_metadata_leaves_the_old_view_as_content() -> None:
    text = _one(Message("a1", "assistant", "", TS, {"toolCalls": [CALL]}))
    (back,) = loads(text.replace('"command":"alembic', '"command":"flask db')).messages
    assert back.metadata["toolCalls"][0]["arguments"]["command"] == "flask db upgrade head"
    assert back.edited
    assert back.content.startswith("> - 🔧 **Bash** `alembic upgrade head`")


def test_deleting_the_view_lines_changes_nothing() -> None:
    meta = {"thinking": "Plan.", "toolCalls": [CALL]}
    message = Message("a1", "assistant", "Sure.", TS, meta)
    text = _one(message)
    lines = [line for line in text.split("\n") if not line.startswith(">")]
    stripped = "\n".join(lines).replace("UTC\n\nSure.\n\n", "UTC\nSure.\n")
    (back,) = loads(stripped).messages
    assert back == message
    assert _one(back) == text  # the views come back when the block is rendered again


def test_editing_the_content_between_the_views_is_an_ordinary_edit() -> None:
    meta = {"thinking": "Plan.", "toolCalls": [CALL]}
    text = _one(Message("a1", "assistant", "Sure.", TS, meta))
    (back,) = loads(text.replace("\nSure.\n", "\nSure, running it.\n")).messages
    assert back.edited
    assert back.content == "Sure, running it."
    assert back.metadata == meta


def test_a_file_converted_to_crlf_still_has_its_views_recognised() -> None:
    messages = (
        Message("a1", "assistant", "", TS, {"toolCalls": [CALL]}),
        Message("a2", "assistant", "Done.\n", TS, {"thinking": "a\r\nb", "toolCalls": [CALL]}),
        Message("a3", "assistant", "", TS, {"thinking": "only this"}),
    )
    text = dumps(SessionFile(id="s", created=TS, messages=messages)).replace("\n", "\r\n")
    back = loads(text).messages
    # As for any message of a CRLF file: its newlines changed, and the renderer's last
    # newline leaves a `\r`; no view text is taken for content.
    assert [m.content for m in back] == ["\r", "Done.\r\n\r", "\r"]
    assert [m.metadata for m in back] == [m.metadata for m in messages]


_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60
).filter(lambda s: s.strip() == s and s and "`" not in s)


@settings(max_examples=100, deadline=None)
@given(command=_line, path=_line)
def test_the_command_and_path_of_a_call_are_visible(command: str, path: str) -> None:
    calls = [
        {"name": "Bash", "arguments": {"command": command}},
        {"name": "Edit", "arguments": {"file_path": path, "old_string": "a\nb"}},
    ]
    shown = _visible(_one(Message("a1", "assistant", "", TS, {"toolCalls": calls})))
    assert f"**Bash** `{command}`" in shown
    assert f"**Edit** `{path}` · old_string: `a` (+1 line)" in shown


def test_search_text_holds_names_arguments_results_and_thinking() -> None:
    meta = {
        "thinking": "check the schema",
        "toolCalls": [
            {**CALL, "result": "Running upgrade 3f2a -> 9c1d"},
            {"name": "Edit", "arguments": {"file_path": "app/auth.py", "edits": [{"a": "x"}]}},
        ],
        "toolResults": [{"id": "t9", "result": {"rows": 3}}],
    }
    text = search_text("Migrating.", meta)
    assert text.split("\n") == [
        "Migrating.",
        "check the schema",
        "Bash: alembic upgrade head Apply migrations",
        "Running upgrade 3f2a -> 9c1d",
        "Edit: app/auth.py x",
        '{"rows": 3}',
    ]
    assert search_text("plain", {"model": "m"}) == "plain"


def test_tool_names_of_a_call_and_of_a_result() -> None:
    assert tool_names({"toolCalls": [CALL, {"name": "Read"}, CALL, "x", {"name": 3}]}) == [
        "Bash",
        "Read",
    ]
    assert tool_names({"toolName": "Bash", "toolUseId": "toolu_1"}) == ["Bash"]
    assert tool_names({"toolName": ["not", "text"]}) == []


def test_plain_text_prints_thinking_calls_arguments_and_results() -> None:
    meta = {
        "thinking": "first\nsecond",
        "toolCalls": [
            {**CALL, "result": "ok\ndone", "isError": False},
            {"name": "Edit", "arguments": {"file_path": "a.py", "new_string": "x\ny"}},
        ],
    }
    assert plain_text("assistant", "Doing it.", meta).split("\n") == [
        "💭 thinking:",
        "  │ first",
        "  │ second",
        "Doing it.",
        "🔧 Bash: alembic upgrade head",
        "    description: Apply migrations",
        "    ← result:",
        "      ok",
        "      done",
        "🔧 Edit: a.py",
        "    new_string:",
        "      x",
        "      y",
    ]
    assert plain_text("tool", "out", {"toolName": "Bash", "isError": True}) == "← Bash (error)\nout"
