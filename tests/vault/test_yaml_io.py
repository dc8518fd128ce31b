"""The frontmatter reader's fast path reads exactly what PyYAML reads, or steps aside."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault import yaml_io


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
    # (Not `load_yaml(text) == data` for all data: PyYAML itself writes a lone U+00A0 as a
    # plain scalar that it reads back as null.)
    fast = yaml_io._simple_mapping(text)
    assert fast is None or fast == data


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
