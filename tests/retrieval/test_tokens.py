"""The token estimate against real tokenizers, on samples kept in tests/fixtures.

`tests/fixtures/token_samples.json` holds texts of the kinds BPE splits finely (code, JSON,
paths, URLs, hex, base64, ids, CJK, emoji, other scripts, numbers, tables, tool-call lines
as get_context shows them, indentation, keyboard mash) and prose, each with its token count
under OpenAI's cl100k_base and o200k_base and Anthropic's legacy tokenizer, computed once by
`python -m bench.tokens --fixture tests/fixtures/token_samples.json` (bench/tokens.py says
where each vocabulary comes from). The counts are data here: no tokenizer is needed. The
known words (indexer/data/known_words.txt.gz, made by bench/known_words.py) ship with the
package and are checked against their pinned sha256.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer import tokens
from indexer.tokens import KnownWordsError, cut_to_tokens, estimate_tokens, known_words

SAMPLES = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "token_samples.json").read_text(encoding="utf-8")
)["samples"]
REFERENCES = ("cl100k_base", "o200k_base", "claude-legacy")
PROSE_CEILING = 1.4  # the most a prose sample of 10+ tokens may be overcounted (cl100k_base)
SHORT_SLACK = 3  # a shorter one may cost this many tokens more than it takes


def _id(sample: dict[str, object]) -> str:
    return f"{sample['kind']}:{str(sample['text'])[:24]}"


def test_the_fixture_covers_every_reference_and_kind() -> None:
    assert all(set(s["tokens"]) == set(REFERENCES) for s in SAMPLES)
    kinds = {s["kind"] for s in SAMPLES}
    assert {"prose", "code", "json", "paths", "urls", "hex", "base64", "cjk", "emoji"} <= kinds
    assert {"numbers", "table", "tool", "whitespace", "mash", "greek", "cyrillic"} <= kinds
    assert {"tabs", "long", "math", "escaped", "rare"} <= kinds


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_never_undercounts_by_more_than_ten_percent(sample: dict[str, object]) -> None:
    estimate = estimate_tokens(str(sample["text"]))
    tokens = sample["tokens"]
    assert isinstance(tokens, dict)
    for name in REFERENCES:
        assert estimate >= 0.9 * tokens[name], (name, estimate, tokens[name])


def test_prose_is_not_overcounted_past_the_ceiling() -> None:
    prose = [s for s in SAMPLES if s["kind"] == "prose"]
    assert len(prose) >= 5
    for s in prose:
        tokens = s["tokens"]["cl100k_base"]
        ceiling = PROSE_CEILING * tokens if tokens >= 10 else tokens + SHORT_SLACK
        assert estimate_tokens(s["text"]) <= ceiling, s["text"]
    total = sum(estimate_tokens(s["text"]) for s in prose)
    assert total <= 1.2 * sum(s["tokens"]["cl100k_base"] for s in prose)


def test_the_known_words_ship_checked() -> None:
    words = known_words()
    assert len(words) > 30_000
    assert {" the", "the", " structure", " The"} <= words
    assert all(w.lstrip(" ").isalpha() and w.isascii() for w in words)
    assert " Koyaanisqatsi" not in words and " structurre" not in words


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [("KNOWN_WORDS_SHA256", "0" * 64, "sha256"), ("KNOWN_WORDS", "missing.txt.gz", "cannot")],
)
def test_a_changed_or_missing_known_word_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setattr(tokens, name, value)
    known_words.cache_clear()
    try:
        with pytest.raises(KnownWordsError, match=says) as caught:
            known_words()
        assert caught.value.code == "INDEX_UNAVAILABLE" and "reinstall" in str(caught.value.details)
    finally:
        monkeypatch.undo()
        known_words.cache_clear()
    assert " the" in known_words()


@pytest.mark.parametrize(
    ("known", "unknown"),
    [(" structure", " strcuture"), (" important", " imprtoant"), (" House", " Hosue")],
)
def test_a_known_word_costs_less_than_an_unknown_one(known: str, unknown: str) -> None:
    assert known in known_words() and unknown not in known_words()
    line = "Tell me what {} means to you in a few words, if you can."
    assert estimate_tokens(line.format(known)) < estimate_tokens(line.format(unknown))


def test_a_word_is_known_in_the_form_it_appears() -> None:
    # `retirement` is one token after a space, not at a line's start (where no space
    # comes before it); `structure` is one token in both forms
    assert " retirement" in known_words() and "retirement" not in known_words()
    assert {" structure", "structure"} <= known_words()
    assert estimate_tokens("plans retirement\n") < estimate_tokens("plans\nretirement")
    assert estimate_tokens("plans structure\n") == estimate_tokens("plans\nstructure")


def test_english_lines_cost_less_than_the_same_letters_elsewhere() -> None:
    english = (
        "Could you explain the difference between a process and a thread, with an "
        "example of when each of them is the better choice for the server?"
    )
    shuffled = " ".join(w[::-1] for w in english.split())  # no stop words left
    assert estimate_tokens(english) < estimate_tokens(shuffled)


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_cut_agrees_with_the_estimate(sample: dict[str, object]) -> None:
    text = str(sample["text"])
    whole = estimate_tokens(text)
    assert cut_to_tokens(text, whole) == text
    for budget in (1, whole // 3, whole // 2, whole - 1):
        cut = cut_to_tokens(text, budget)
        assert text.startswith(cut)
        assert estimate_tokens(cut) <= budget or cut == ""
        if cut and cut != text:  # ends between words
            assert not re.match(r"\S", text[len(cut)])


def _cut_by_bisection(text: str, budget: int) -> str:
    """cut_to_tokens as it was before it read the words once: the same search, with
    `estimate_tokens` of each prefix tried. The one-pass cut must give exactly this."""
    if budget <= 0:
        return ""
    reach = budget * tokens.FAR_CHARS_PER_TOKEN
    if len(text) <= reach and estimate_tokens(text) <= budget:
        return text
    ends = [m.end() for m in re.finditer(r"\S+", text[:reach])]
    low, high = 0, len(ends)
    step = 16
    while low + step < high:
        if estimate_tokens(text[: ends[low + step - 1]]) > budget:
            high = low + step - 1
            break
        low += step
        step *= 2
    while low < high:
        mid = (low + high + 1) // 2
        if estimate_tokens(text[: ends[mid - 1]]) <= budget:
            low = mid
        else:
            high = mid - 1
    return text[: ends[low - 1]] if low else ""


# Pieces that move the estimate: stop words (English lines), known and unknown words,
# camelCase, contractions, escapes, digits, punctuation, random-looking ids, non-ASCII
# scripts, and every kind of whitespace (a wide blank, CRLF, tabs, runs of spaces).
_WORDS = (
    "the", "a", "of", "and", "to", "is", "it", "in", "that", "we", "you", "I'm", "don't",
    "we'll", "getUserName", "JWT", "rotate", "keys", "Koyaanisqatsi", "hahaha", "jdjdjd",
    "12345", "3.14", "\\n", '\\"', '{"a":', "x=1;", "ÅSA", "naïve", "Ωμέγα", "日本語", "😀",
    "aGVsbG8gd29ybGQxMjM0NTY3ODkw", "ABCDEF", "--flag", "path/to/file.py",
)  # fmt: skip
_GAPS = (" ", " ", " ", "  ", "\n", "\n\n", "\t", " \t ", "\u00a0", "\u3000", "\r\n", "", "  \n")
_texts = st.lists(
    st.one_of(st.sampled_from(_WORDS), st.sampled_from(_GAPS), st.text(max_size=12)),
    max_size=300,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_texts, budget=st.integers(min_value=-1, max_value=400))
def test_the_one_pass_cut_is_the_bisection_cut(text: str, budget: int) -> None:
    assert cut_to_tokens(text, budget) == _cut_by_bisection(text, budget)


@settings(max_examples=200, deadline=None)
@given(text=_texts, reach=st.integers(min_value=1, max_value=4000))
def test_each_prefix_estimate_is_the_estimate_of_that_prefix(text: str, reach: int) -> None:
    """Also when `reach` cuts the last word read in two (that piece is the last word)."""
    ends = [m.end() for m in re.finditer(r"\S+", text[:reach])]
    expected = [estimate_tokens(text[:end]) for end in ends]
    ahead, back = tokens._Prefixes(text, reach), tokens._Prefixes(text, reach)
    # words are found and read as far as a prefix asked for needs: in any order, the
    # same estimates
    assert [ahead.has(k) and ahead.estimate(k) for k in range(1, len(ends) + 1)] == expected
    assert back.has(len(ends)) and not back.has(len(ends) + 1)
    assert [back.estimate(k) for k in range(len(ends), 0, -1)] == expected[::-1]
    assert ahead.ends == back.ends == ends


@settings(max_examples=200, deadline=None)
@given(text=_texts, more=_texts)
def test_what_a_text_begins_with_bounds_its_estimate(text: str, more: str) -> None:
    """`least(k)` never exceeds the estimate of a text that begins with those k words,
    whatever follows (the cut skips reading a text whole on it), and is close to it."""
    whole = text + more
    prefixes = tokens._Prefixes(whole, len(whole))
    total = estimate_tokens(whole)
    k = 0
    while prefixes.has(k + 1) and prefixes.ends[k] <= len(text):
        k += 1
        assert prefixes.least(k) <= total
        # within the rounding up, the `short` one more, and known words' English discount
        near = 0.92 * (prefixes.estimate(k) - 1 - tokens.WEIGHTS["short"])
        assert prefixes.least(k) >= near


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_the_one_pass_cut_on_the_samples(sample: dict[str, object]) -> None:
    text = str(sample["text"])
    whole = estimate_tokens(text)
    long = "\n".join([text] * 30)  # long enough for the galloping search to go far
    for budget in range(1, whole + 2):
        assert cut_to_tokens(text, budget) == _cut_by_bisection(text, budget)
    for budget in (5, whole, 3 * whole, 10 * whole, 29 * whole):
        assert cut_to_tokens(long, budget) == _cut_by_bisection(long, budget)


def test_the_bench_summary_reads_ratios_per_message() -> None:
    from bench.tokens import ratios

    summary = ratios([9, 20, 30, 5], [10, 10, 10, 0])  # the text of 0 tokens is left out
    assert summary["n"] == 3
    assert summary["min"] == 0.9 and summary["median"] == 2.0
    assert summary["sum"] == round(59 / 30, 3)


def test_the_known_word_file_is_package_data() -> None:
    """A wheel carries indexer/data/known_words.txt.gz (pyproject's package-data), so an
    install that is not editable finds it too."""
    import fnmatch
    import tomllib

    root = Path(__file__).parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["indexer"]
    assert (root / "indexer" / "data" / tokens.KNOWN_WORDS).is_file()
    assert any(fnmatch.fnmatch(f"data/{tokens.KNOWN_WORDS}", p) for p in patterns)
