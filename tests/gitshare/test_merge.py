"""The merge of a session file by message id (vault/gitshare/merge.py), without git: every
rule of docs/git.md, both directions byte-identical, and a property test over random edits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from vault import Message, SessionFile, dumps, parse
from vault.gitshare.merge import CONFLICT_KEY, Merged, merge

GOLDEN = Path(__file__).resolve().parent / "layout_v1"  # an older layout


def ts(i: int) -> str:
    return f"2025-01-15T10:{i // 60:02d}:{i % 60:02d}.000Z"


def msg(i: int, text: str | None = None, role: str = "user") -> Message:
    return Message(f"m{i:03d}", role, text if text is not None else f"message {i}", ts(i))


def file(messages: list[Message], **fields: object) -> bytes:
    values: dict[str, object] = {"id": "s", "created": ts(0), "title": "T", "topic": "t"}
    values.update(fields)
    return dumps(SessionFile(messages=tuple(messages), **values)).encode()  # type: ignore[arg-type]


def both_ways(base: bytes | None, ours: bytes, theirs: bytes) -> Merged:
    one = merge(base, ours, theirs)
    other = merge(base, theirs, ours)
    assert one.data == other.data
    assert one.conflicts == other.conflicts
    return one


def ids(data: bytes) -> list[str]:
    return [m.id for m in parse(data).session.messages]


def test_appends_on_both_sides_interleave_by_time_then_id() -> None:
    base = file([msg(0), msg(1)])
    ours = file([msg(0), msg(1), msg(3), msg(5)])
    theirs = file([msg(0), msg(1), msg(2), msg(4)])
    result = both_ways(base, ours, theirs)
    assert ids(result.data) == ["m000", "m001", "m002", "m003", "m004", "m005"]
    assert result.conflicts == () and result.messages == 6
    # Same time: the id decides.
    a, b = replace(msg(9), id="zz"), replace(msg(9), id="aa")
    result = both_ways(base, file([msg(0), msg(1), a]), file([msg(0), msg(1), b]))
    assert ids(result.data)[-2:] == ["aa", "zz"]


def test_unchanged_blocks_keep_their_bytes() -> None:
    base = file([msg(0), msg(1)])
    ours = file([msg(0), msg(1), msg(2)])
    theirs = file([msg(0), msg(1), msg(3)])
    result = both_ways(base, ours, theirs)
    assert result.data.startswith(ours[: -len(dumps_tail(msg(2)))])


def dumps_tail(m: Message) -> bytes:
    from vault.session_file import render_message

    return render_message(m).encode()


def test_a_deletion_stays_deleted_and_an_edit_is_taken() -> None:
    base = file([msg(0), msg(1), msg(2)])
    ours = file([msg(0), msg(2), msg(3)])  # m001 deleted
    theirs = file([msg(0), msg(1), msg(2, "edited on their side")])
    result = both_ways(base, ours, theirs)
    messages = parse(result.data).session.messages
    assert [m.id for m in messages] == ["m000", "m002", "m003"]
    assert messages[1].content == "edited on their side"
    assert result.conflicts == ()


def test_an_edit_beats_a_deletion() -> None:
    base = file([msg(0), msg(1)])
    result = both_ways(base, file([msg(0)]), file([msg(0), msg(1, "kept: edited")]))
    assert [m.content for m in parse(result.data).session.messages] == [
        "message 0",
        "kept: edited",
    ]


def test_deleted_on_both_sides_is_gone() -> None:
    base = file([msg(0), msg(1)])
    result = both_ways(base, file([msg(0)]), file([msg(0), msg(2)]))
    assert ids(result.data) == ["m000", "m002"]


def test_edited_differently_on_both_sides_keeps_both_with_a_note() -> None:
    base = file([msg(0), msg(1), msg(2)])
    ours = file([msg(0), msg(1, "ours says this"), msg(2)])
    theirs = file([msg(0), msg(1, "theirs says that"), msg(2)])
    result = both_ways(base, ours, theirs)
    assert result.conflicts == ("m001",)
    messages = parse(result.data).session.messages
    contents = {m.content for m in messages}
    assert {"ours says this", "theirs says that", "message 0", "message 2"} == contents
    copy = [m for m in messages if m.id != "m001" and m.id.startswith("m001")]
    assert len(copy) == 1 and copy[0].metadata[CONFLICT_KEY] == {"of": "m001"}
    # Side by side, with the visible note between them.
    order = [m.id for m in messages]
    assert order.index(copy[0].id) == order.index("m001") + 1
    text = result.data.decode()
    assert "Merge conflict: message `m001`" in text
    assert text.index("Merge conflict") < text.index(f"id={copy[0].id} ")
    # Merging the result again with either side changes nothing and is no conflict.
    again = merge(ours, result.data, ours)
    assert again.data == result.data


def test_a_conflict_resolved_on_three_clones_the_same_way() -> None:
    base = file([msg(0)])
    a = file([msg(0, "a")])
    b = file([msg(0, "b")])
    c = file([msg(0, "c")])
    ab = merge(base, a, b).data
    abc_1 = merge(base, ab, c).data
    ac = merge(base, a, c).data
    abc_2 = merge(base, ac, b).data
    got_1 = {m.content for m in parse(abc_1).session.messages}
    got_2 = {m.content for m in parse(abc_2).session.messages}
    assert got_1 == got_2 == {"a", "b", "c"}


def test_added_on_both_sides_with_no_base() -> None:
    ours = file([msg(0), msg(2)], created=ts(0))
    theirs = file([msg(1), msg(0)], created=ts(1))
    result = both_ways(None, ours, theirs)
    assert ids(result.data) == ["m000", "m001", "m002"]
    assert parse(result.data).session.created == ts(0)
    assert both_ways(b"", ours, theirs).data == result.data


def test_frontmatter_merges_field_by_field() -> None:
    base = file([msg(0)], tags=("keep", "drop"), metadata={"a": 1, "b": 2, "gone": 0})
    ours = file(
        [msg(0)],
        title="Ours",
        tags=("keep", "drop", "ours"),
        metadata={"a": 10, "b": 2},
        updated=ts(30),
    )
    theirs = file(
        [msg(0)],
        status="archived",
        tags=("keep", "theirs"),
        metadata={"a": 1, "b": 2, "gone": 0, "new": [1]},
        updated=ts(20),
    )
    session = parse(both_ways(base, ours, theirs).data).session
    assert session.title == "Ours" and session.status == "archived"
    assert session.tags == ("keep", "ours", "theirs")
    assert session.metadata == {"a": 10, "b": 2, "new": [1]}
    assert session.updated == ts(30)


def test_title_changed_on_both_sides_takes_the_later_update() -> None:
    base = file([msg(0)])
    ours = file([msg(0)], title="Early", updated=ts(10))
    theirs = file([msg(0)], title="Late", updated=ts(20))
    result = both_ways(base, ours, theirs).data
    assert parse(result).session.title == "Late"
    assert b"\n# Late\n" in result and b"# Early" not in result


def test_notes_between_blocks_and_hand_edits_survive() -> None:
    golden = (GOLDEN / "hand_edited.md").read_bytes()
    theirs = golden + dumps_tail(msg(50, "appended on their side"))
    ours = golden.replace(
        b"Notes a person typed", b"Notes a person typed (and edited on our side)"
    ) + dumps_tail(msg(51, "appended on our side"))
    result = both_ways(golden, ours, theirs)
    text = result.data.decode()
    assert "edited on our side" in text
    before = {m.id: m for m in parse(golden).session.messages}
    after = {m.id: m for m in parse(result.data).session.messages}
    assert set(after) == set(before) | {"m050", "m051"}
    for mid, m in before.items():
        assert (after[mid].content, after[mid].created_at) == (m.content, m.created_at)
    assert after["m1"].edited  # the stored message edited by hand is still seen as one


def test_older_layouts_merge_with_new_appends() -> None:
    for name in ("canonical_basic.md", "canonical_metadata.md", "torn_tail.md"):
        old = (GOLDEN / name).read_bytes()
        session = parse(old).session
        kept = old[: parse(old).torn_offset]  # the vault cuts a torn tail before appending
        ours = kept + dumps_tail(replace(msg(1, "ours"), id="new-ours"))
        theirs = kept + dumps_tail(replace(msg(2, "theirs"), id="new-theirs"))
        result = both_ways(old, ours, theirs)
        got = parse(result.data).session
        assert {m.id for m in got.messages} == {m.id for m in session.messages} | {
            "new-ours",
            "new-theirs",
        }
        assert replace(got, messages=()) == replace(session, messages=())


def test_blocks_typed_by_hand_get_an_explicit_id_when_they_move() -> None:
    golden = (GOLDEN / "hand_edited.md").read_bytes()
    early = replace(msg(0, "an early message"), created_at="2025-01-15T14:00:00.000Z")
    ours = golden + dumps_tail(early)
    theirs = golden + dumps_tail(msg(2, "x"))
    before = {(m.id, m.content) for m in parse(golden).session.messages}
    after = {
        (m.id, m.content) for m in parse(both_ways(golden, ours, theirs).data).session.messages
    }
    assert before <= after


# -- property: random histories on both sides


def edits() -> st.SearchStrategy[list[tuple[str, int]]]:
    return st.lists(
        st.tuples(
            st.sampled_from(["append", "delete", "edit", "tag", "title"]), st.integers(0, 50)
        ),
        max_size=8,
    )


def apply(
    base: list[Message], ops: list[tuple[str, int]], side: str
) -> tuple[list[Message], dict[str, object]]:
    messages = list(base)
    fields: dict[str, object] = {}
    for n, (op, k) in enumerate(ops):
        if op == "append":
            messages.append(Message(f"{side}{n}", "assistant", f"{side} {n} {k}", ts(k)))
        elif op == "delete" and messages:
            messages.pop(k % len(messages))
        elif op == "edit" and messages:
            i = k % len(messages)
            messages[i] = replace(messages[i], content=f"{messages[i].content} / {side} {n}")
        elif op == "tag":
            fields["tags"] = (f"{side}{k}",)
        elif op == "title":
            fields["title"] = f"{side} title {k}"
            fields["updated"] = ts(k)
    return messages, fields


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 6), edits(), edits())
def test_random_histories_merge_by_the_rules(
    size: int, ours_ops: list[tuple[str, int]], theirs_ops: list[tuple[str, int]]
) -> None:
    base_messages = [msg(i * 3) for i in range(size)]
    o_messages, o_fields = apply(base_messages, ours_ops, "o")
    t_messages, t_fields = apply(base_messages, theirs_ops, "t")
    base = file(base_messages)
    ours, theirs = file(o_messages, **o_fields), file(t_messages, **t_fields)
    result = both_ways(base, ours, theirs)
    merged = parse(result.data).session.messages
    got = {m.id: m for m in merged}
    assert len(got) == len(merged)
    if base not in (ours, theirs):  # a side that did not change is simply replaced
        keys = [(m.created_at, m.id) for m in merged]
        assert keys == sorted(keys)
    o = {m.id: m for m in o_messages}
    t = {m.id: m for m in t_messages}
    b = {m.id: m for m in base_messages}
    for mid in set(o) | set(t):
        mo, mt, mb = o.get(mid), t.get(mid), b.get(mid)
        deleted_unchanged = (mo is None and mt == mb) or (mt is None and mo == mb)
        if deleted_unchanged:
            assert mid not in got
            continue
        assert mid in got
        want = {x.content for x in (mo, mt) if x is not None and x != mb} or {mb.content}  # type: ignore[union-attr]
        versions = {
            m.content
            for m in merged
            if m.id == mid or m.metadata.get(CONFLICT_KEY, {}).get("of") == mid
        }
        assert versions == want
    assert (len(result.conflicts) > 0) == any(
        mid in o and mid in t and o[mid] != t[mid] and o[mid] != b.get(mid) and t[mid] != b.get(mid)
        for mid in set(o) & set(t)
    )
    assert json.dumps(sorted(got))  # every id is text


def test_one_side_rewritten_in_the_current_layout_merges_with_the_older_one() -> None:
    old = (GOLDEN / "canonical_metadata.md").read_bytes()
    session = parse(old).session
    current = dumps(session).encode()  # tool calls now shown in the file
    assert current != old
    ours = current + dumps_tail(replace(msg(1, "ours"), id="new-ours"))
    theirs = old + dumps_tail(replace(msg(2, "theirs"), id="new-theirs"))
    result = both_ways(old, ours, theirs)
    assert result.conflicts == ()
    got = parse(result.data).session
    assert [replace(m, line=0) for m in got.messages if not m.id.startswith("new-")] == [
        replace(m, line=0) for m in session.messages
    ]
    assert {m.id for m in got.messages} >= {"new-ours", "new-theirs"}
    assert result.data.count(b"<!-- cam:msg id=") == len(session.messages) + 2


def test_tool_calls_of_the_current_layout_survive_a_merge() -> None:
    tools = (
        Path(__file__).resolve().parents[1] / "golden" / "canonical_tool_calls.md"
    ).read_bytes()
    session = parse(tools).session
    ours = tools + dumps_tail(replace(msg(1, "ours"), id="new-ours"))
    theirs = tools + dumps_tail(replace(msg(2, "theirs"), id="new-theirs"))
    got = parse(both_ways(tools, ours, theirs).data).session
    by_id = {m.id: m for m in got.messages}
    for m in session.messages:
        assert by_id[m.id].metadata == m.metadata and by_id[m.id].content == m.content
