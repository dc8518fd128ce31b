"""git's conflict markers read back as each side (vault/gitshare/markers.py), and a
frontmatter holding them still parses (as its first side)."""

from __future__ import annotations

from vault import parse
from vault.gitshare.markers import first_side, hunks, sides

PLAIN = b"top\n<<<<<<< HEAD\nours 1\nours 2\n=======\ntheirs\n>>>>>>> branch\nmiddle\n"
DIFF3 = (
    b"top\n<<<<<<< HEAD\nours\n||||||| base\nbase\n=======\ntheirs\n>>>>>>> b\n"
    b"mid\n<<<<<<< HEAD\n||||||| base\n=======\nadded\n>>>>>>> b\nend"
)


def test_a_hunk_gives_each_side_and_its_line() -> None:
    (hunk,) = hunks(PLAIN)
    assert (hunk.line, hunk.ours, hunk.base, hunk.theirs) == (
        2,
        b"ours 1\nours 2\n",
        None,
        b"theirs\n",
    )
    found = sides(PLAIN)
    assert found is not None
    assert found.ours == b"top\nours 1\nours 2\nmiddle\n"
    assert found.theirs == b"top\ntheirs\nmiddle\n"
    assert found.base is None


def test_diff3_hunks_give_the_base_too() -> None:
    found = sides(DIFF3)
    assert found is not None
    assert found.ours == b"top\nours\nmid\nend"
    assert found.theirs == b"top\ntheirs\nmid\nadded\nend"
    assert found.base == b"top\nbase\nmid\nend"
    assert [h.line for h in hunks(DIFF3)] == [2, 10]


def test_lone_marker_lines_are_text() -> None:
    for text in (
        b"Title\n=======\nbody\n",
        b"<<<<<<< HEAD\nno end\n",
        b"<<<<<<<<< not a marker\n=======\n>>>>>>> x\n",
        b"=======\n>>>>>>> x\n",
    ):
        assert hunks(text) == [] and sides(text) is None and first_side(text) == text


def test_markers_inside_a_skipped_range_are_text() -> None:
    start = PLAIN.index(b"<<<<<<<")
    assert hunks(PLAIN, ((start - 1, len(PLAIN)),)) == []
    assert hunks(PLAIN, ((0, start - 1),)) != []


def test_a_frontmatter_with_conflict_markers_reads_as_its_first_side() -> None:
    data = (
        b"---\nid: s\ncreated: '2025-01-15T10:00:00.000Z'\n<<<<<<< HEAD\ntitle: Ours\n"
        b"=======\ntitle: Theirs\n>>>>>>> b\n---\n\n"
        b"<!-- cam:msg role=user -->\nhello\n<!-- /cam:msg -->\n"
    )
    session = parse(data).session
    assert session.title == "Ours" and [m.content for m in session.messages] == ["hello"]
