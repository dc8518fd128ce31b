"""Frontmatter YAML: the reader's fast path reads exactly what PyYAML reads, or steps aside;
whatever the dumper writes, strings included, reads back the same."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault import SessionFile, dumps, loads, yaml_io
from vault.session_file import KEY_FIELDS, SOURCE_FIELDS


def _pyyaml(text: str) -> Any:
    return yaml_io._HANDLER.load(text, Loader=yaml_io._PyLoader)


def _same(text: str) -> None:
    fast = yaml_io._simple_mapping(text)
    if fast is None:
        return
    slow = _pyyaml(text)
    assert fast == slow
    assert list(fast) == list(slow)
    assert [type(v) for v in fast.values()] == [type(v) for v in slow.values()]


_WORDS = [
    *("1", "1_000", "0x1F", "012", "1.5", ".inf", "null", "Null", "~", "true", "False"),
    *("yes", "no", "2025-01-15", "12:30", "it's", "x,y", "(a)", "é", "-", "?", "'", "''"),
    *("#", ":", "!", "&", "*", ".", " ", "  ", "a b", "\t", "\u00a0", "\u2028", "\x85"),
    "\ufeff",
]
_words = st.sampled_from(_WORDS)
_values = st.lists(st.one_of(_words, st.text(max_size=12)), max_size=5).map("".join)
_keys = st.sampled_from(["id", "title", "topic", "created", "null", "true", "a_b", "x1", "Key"])
_SESSION_KEYS = frozenset(
    {"id", "title", "topic", "created", "updated", "status", "tags", "metadata", "truncated"}
) | frozenset(KEY_FIELDS + SOURCE_FIELDS)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(_keys, _values, st.sampled_from(["", "'"])), max_size=6))
def test_hand_written_lines_read_as_pyyaml_reads_them(
    items: list[tuple[str, str, str]],
) -> None:
    lines = [f"{k}: {q}{v}{q}" for k, v, q in items]
    text = "\n".join(lines) + "\n"
    try:
        _pyyaml(text)
    except yaml_io.YamlError:
        assert yaml_io._simple_mapping(text) is None
        return
    except Exception:  # PyYAML's own errors: the fast path must not accept these either
        assert yaml_io._simple_mapping(text) is None
        return
    _same(text)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "title", "topic", "status"]), _values, min_size=1))
def test_what_we_write_reads_back_the_same(data: dict[str, str]) -> None:
    text = yaml_io.dump_yaml(data) + "\n"
    _same(text)
    fast = yaml_io._simple_mapping(text)
    assert fast is None or fast == data
    assert yaml_io.load_yaml(text) == data


@pytest.mark.parametrize(
    "line",
    [
        "id: bench-000000",
        "title: It's (almost) done, isn't it?",
        "created: '2025-01-15T14:30:22.123Z'",
        "tags: []",
        "metadata: {}",
        "topic: 52-a-software-tester",
    ],
)
def test_the_usual_frontmatter_takes_the_fast_path(line: str) -> None:
    assert yaml_io._simple_mapping(line + "\n") is not None
    _same(line + "\n")


# --------------------------------------------------------- dump, then load: same strings

# Every character Python's `str.isspace` or the Z categories call blank: YAML itself counts
# only space and tab (and its line breaks) as blanks, so the rest are text to a YAML reader
# and may end a plain scalar, which is where a Unicode-aware strip used to cut them off.
_BLANKS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_chars = st.one_of(
    st.characters(exclude_categories=["Cs"]),
    st.characters(categories=("Zs", "Zl", "Zp", "Cc", "Cf")),
    st.sampled_from(_BLANKS),
    st.sampled_from("-?:,[]{}#&*!|>'\"%@`~=<.0aZ\ufeff\u200b"),
)
_strings = st.one_of(
    st.text(_chars, max_size=6),
    st.text(st.sampled_from(_BLANKS), min_size=1, max_size=3),
    st.sampled_from(_WORDS),
)
_frontmatter_values = st.recursive(
    _strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_strings, inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.one_of(_keys, _strings), _frontmatter_values, min_size=1, max_size=5))
def test_any_string_value_reads_back_the_same(data: dict[str, Any]) -> None:
    """Strings anywhere (value, key, list item, nested, last line) read back unchanged."""
    text = yaml_io.dump_yaml(data) + "\n"
    back = yaml_io.load_yaml(text)
    assert back == data
    assert repr(back) == repr(data)  # same key order, same types all the way down


@settings(max_examples=300, deadline=None)
@given(
    title=_strings,
    topic=_strings,
    tags=st.lists(_strings, max_size=3),
    metadata=st.dictionaries(_strings, _strings, max_size=3),
    extra=st.dictionaries(_strings.filter(lambda k: k not in _SESSION_KEYS), _strings, max_size=2),
)
def test_session_frontmatter_strings_read_back_the_same(
    title: str, topic: str, tags: list[str], metadata: dict[str, str], extra: dict[str, str]
) -> None:
    session = SessionFile(
        id="session-20250115-143022-x",
        created="2025-01-15T14:30:22.123Z",
        title=title,
        topic=topic,
        tags=tuple(tags),
        metadata=metadata,
        extra=extra,
    )
    back = loads(dumps(session))
    assert back == session
    assert back.frontmatter() == session.frontmatter()


@pytest.mark.parametrize("blank", list(_BLANKS), ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("shape", ["{}", "a{}", "{}{}"])
def test_a_blank_at_the_end_of_the_last_value_is_kept(blank: str, shape: str) -> None:
    # The case found in review: python-frontmatter's export `.strip()`ped the dump, so the
    # last value lost these (a value of them alone came back as null).
    value = shape.format(blank, blank)
    data = {"title": value, "metadata": {"k": value}, "last": value}
    assert yaml_io.load_yaml(yaml_io.dump_yaml(data) + "\n") == data
