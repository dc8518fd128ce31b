"""The session file format: golden files, verbatim round trip, append-only growth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault import MalformedSessionFile, Message, SessionFile, dumps, loads, parse
from vault.session_file import end_marker, render_message

GOLDEN = Path(__file__).parent.parent / "golden"
TS = "2025-01-15T14:30:22.123Z"


def golden_cases() -> list[Path]:
    return sorted(GOLDEN.glob("*.md"))


@pytest.mark.parametrize("path", golden_cases(), ids=lambda p: p.stem)
def test_golden_file_parses_to_expected(path: Path) -> None:
    expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    session = loads(path.read_bytes(), path)
    assert session.to_dict() == expected


@pytest.mark.parametrize(
    "path", [p for p in golden_cases() if p.stem.startswith("canonical")], ids=lambda p: p.stem
)
def test_canonical_golden_files_render_back_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    assert dumps(loads(data, path)).encode("utf-8") == data


# Text with every code point but surrogates, biased towards the format's own syntax.
_tricky_lines = st.sampled_from(
    [
        "---",
        "...",
        "```",
        "~~~~",
        "<!-- cam:msg id=x role=user ts=2025-01-15T14:30:22.123Z bytes=1 sha256=0 -->",
        "<!-- /cam:msg id=x -->",
        "<!-- /cam:msg -->",
        "<!-- cam:meta {} -->",
        "### User · 2025-01-15 14:30:22 UTC",
        "\r",
        "\ufeff",
        "",
        "\x00",
    ]
)
_any_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200)
content_strategy = st.lists(st.one_of(_tricky_lines, _any_text), max_size=8).map(
    lambda parts: "\n".join(parts)
) | st.lists(st.one_of(_tricky_lines, _any_text), max_size=8).map(lambda parts: "\r\n".join(parts))

_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True)
_roles = st.sampled_from(["user", "assistant", "system", "tool"])
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_metadata = st.dictionaries(st.text(max_size=10), _json_values, max_size=3)
# Metadata that the renderer shows around the content (thinking, tool calls, results),
# with the format's own syntax in every text: the views must never change the content.
_view_text = content_strategy | _any_text
_call = st.fixed_dictionaries(
    {"name": st.one_of(_view_text, _json_values)},
    optional={
        "arguments": st.one_of(
            st.dictionaries(st.text(max_size=12), st.one_of(_view_text, _json_values), max_size=4),
            _view_text,
            _json_values,
        ),
        "result": st.one_of(_view_text, _json_values),
        "isError": st.booleans(),
        "id": st.text(max_size=8),
    },
)
_view_metadata = st.fixed_dictionaries(
    {},
    optional={
        "thinking": st.one_of(_view_text, _json_values),
        "toolCalls": st.one_of(st.lists(st.one_of(_call, _json_values), max_size=3), _json_values),
        "toolResults": st.lists(
            st.fixed_dictionaries({"result": st.one_of(_view_text, _json_values)}), max_size=2
        ),
        "toolName": st.one_of(_view_text, _json_values),
    },
)


def _without_end_marker(content: str, mid: str) -> str:
    """The content with no line that would close block `mid` (the renderer refuses it)."""
    while end_marker(mid) in content:
        content = content.replace(end_marker(mid), "")
    return content


@st.composite
def sessions(draw: st.DrawFn) -> SessionFile:
    ids = draw(st.lists(_ids, unique=True, max_size=5))
    messages = []
    for mid in ids:
        content = _without_end_marker(draw(content_strategy), mid)
        metadata = draw(st.one_of(_metadata, _view_metadata))
        messages.append(Message(mid, draw(_roles), content, TS, metadata))
    return SessionFile(
        id=draw(st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "")),
        created=TS,
        title=draw(st.text(max_size=40)),
        topic=draw(st.text(max_size=20)),
        tags=tuple(draw(st.lists(st.text(max_size=10), max_size=3))),
        metadata=draw(_metadata),
        messages=tuple(messages),
    )


@settings(max_examples=300, deadline=None)
@given(sessions())
def test_round_trip_is_verbatim(session: SessionFile) -> None:
    text = dumps(session)
    parsed = loads(text)
    assert parsed == session
    for original, back in zip(session.messages, parsed.messages, strict=True):
        assert back.content.encode("utf-8") == original.content.encode("utf-8")
        assert not back.edited


@settings(max_examples=200, deadline=None)
@given(sessions(), content_strategy, _roles)
def test_append_only_adds_bytes(session: SessionFile, content: str, role: str) -> None:
    before = dumps(session).encode("utf-8")
    message = Message("zz-appended", role, _without_end_marker(content, "zz-appended"), TS)
    after = before + render_message(message).encode("utf-8")
    assert after.startswith(before)
    parsed = loads(after)
    assert parsed.messages[-1] == message
    assert parsed.messages[:-1] == session.messages


def test_content_holding_its_own_end_marker_is_refused() -> None:
    message = Message("m1", "user", f"a\n{end_marker('m1')}\nb", TS)
    with pytest.raises(Exception, match="end marker"):
        render_message(message)


@pytest.mark.parametrize("content", ["<end>\r\nmore", "before\n<end>\r"])
def test_content_holding_its_own_end_marker_with_a_cr_is_refused(content: str) -> None:
    # The parser closes a block at its end marker followed by CR (a CRLF file), so content
    # holding that line would end the block early: found by the append property test.
    message = Message("x", "user", content.replace("<end>", end_marker("x")), TS)
    with pytest.raises(Exception, match="end marker"):
        render_message(message)
    # Another block's marker, or the marker inside a longer line, is just text.
    for text in (f"{end_marker('y')}\r\n", f"a {end_marker('x')}\r\n"):
        session = SessionFile(id="s", created=TS, messages=(Message("x", "user", text, TS),))
        assert loads(dumps(session)).messages[0].content == text


def test_crlf_and_missing_final_newline_survive() -> None:
    message = Message("m1", "user", "line one\r\nline two\rno newline", TS)
    session = SessionFile(id="s", created=TS, messages=(message,))
    assert loads(dumps(session)).messages[0].content == "line one\r\nline two\rno newline"


def test_bom_before_frontmatter_is_accepted() -> None:
    session = SessionFile(id="s", created=TS, messages=(Message("m1", "user", "x", TS),))
    data = b"\xef\xbb\xbf" + dumps(session).encode()
    assert loads(data).messages[0].content == "x"


def test_frontmatter_dates_stay_text_and_yaml_12_booleans() -> None:
    text = "---\nid: s\ncreated: 2025-01-15\ntopic: no\ntitle: yes\n---\n"
    session = loads(text)
    assert session.created == "2025-01-15"
    assert session.topic == "no"
    assert session.title == "yes"


def test_unknown_frontmatter_keys_are_kept_in_order() -> None:
    text = f"---\nid: s\ncreated: '{TS}'\nproject: demo\naliases:\n- a\n---\n"
    session = loads(text)
    assert session.extra == {"project": "demo", "aliases": ["a"]}
    assert loads(dumps(session)).extra == session.extra


def test_parse_reports_positions_of_blocks() -> None:
    one = Message("m1", "user", "hello", TS)
    two = Message("m2", "assistant", "world", TS)
    data = dumps(SessionFile(id="s", created=TS, messages=(one, two))).encode()
    parsed = parse(data)
    assert parsed.torn_offset is None
    assert parsed.message_ends[-1] == len(data)
    # Cutting out block 1 by its span leaves a valid file with only block 2.
    cut = data[: parsed.message_starts[0]] + data[parsed.message_ends[0] :]
    assert [m.id for m in loads(cut).messages] == ["m2"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("no frontmatter\n", 1, "does not start with a '---'"),
        ("---\nid: s\n", 2, "not closed"),
        ("---\nid: [unclosed\n---\n", 3, ""),
        ("---\n- a list\n---\n", 2, "not a mapping"),
        (f"---\nid: s\ncreated: '{TS}'\nstatus: weird\n---\n", 2, "status"),
        (f"---\nid: s\ncreated: '{TS}'\ntags: {{a: 1}}\n---\n", 2, "tags"),
        (f"---\nid: s\ncreated: '{TS}'\nid: t\n---\n", 4, "duplicate key"),
        (
            f"---\nid: s\ncreated: '{TS}'\n---\n\n<!-- cam:msg role=user -->\nhi\n",
            6,
            "no end marker",
        ),
        (
            f"---\nid: s\ncreated: '{TS}'\n---\n<!-- cam:msg role=robot -->\nhi\n<!-- /cam:msg -->\n",
            5,
            "role",
        ),
        (
            f"---\nid: s\ncreated: '{TS}'\n---\n<!-- cam:msg id=a role=user -->\n<!-- /cam:msg id=a -->\n"
            "<!-- cam:msg id=a role=user -->\n<!-- /cam:msg id=a -->\n",
            7,
            "duplicate message id",
        ),
    ],
)
def test_malformed_files_name_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(MalformedSessionFile) as info:
        loads(text, Path("x.md"))
    assert info.value.line == line
    assert reason in info.value.reason
    assert str(info.value).startswith("x.md:")


@pytest.mark.parametrize("raw_id", ["é".encode(), b"\xff", b"x\xc3"])
def test_a_hand_typed_block_with_a_non_ascii_id_is_malformed_not_a_crash(raw_id: bytes) -> None:
    data = (
        b"---\nid: s\ncreated: '" + TS.encode() + b"'\n---\n\n"
        b"<!-- cam:msg id=" + raw_id + b" role=user -->\nhi\n<!-- /cam:msg -->\n"
    )
    with pytest.raises(MalformedSessionFile, match=r"invalid message id|no end marker"):
        parse(data)


def test_marker_lines_off_the_renderer_shape_read_like_rendered_ones() -> None:
    # The renderer's exact marker line is read by one regex, any other by the general
    # attribute reader: extra blanks, a CRLF file, attributes in another order, a hand
    # block without bytes/sha256 all give the same message.
    ours = dumps(SessionFile(id="s", created=TS, messages=(Message("m1", "user", "hi", TS),)))
    marker = ours.splitlines()[-4]
    assert marker.startswith("<!-- cam:msg id=m1 ")
    shuffled = "<!-- cam:msg role=user  sha256={} ts={} bytes=2 id=m1   -->".format(
        marker.split("sha256=")[1].split(" ")[0], TS
    )
    for text in (ours, ours.replace("\n", "\r\n"), ours.replace(marker, shuffled)):
        (message,) = loads(text).messages
        assert (message.id, message.role, message.created_at) == ("m1", "user", TS)
        assert message.content == ("hi" if "\r" not in text else "hi\r")
        assert message.edited == ("\r" in text)
    hand = ours.replace(marker, "<!-- cam:msg id=m1 role=user -->")
    assert loads(hand).messages[0].edited
