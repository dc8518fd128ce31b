"""A token count estimate for budgets, with no tokenizer (docs/retrieval.md).

Text is read line by line and word by word (split on whitespace); each word is split into
ASCII letter runs, digit runs and single other characters, and a letter run into its
humps (`getUserName` -> get, User, Name). Each piece is charged by its kind (`WEIGHTS`):

- a hump of letters by its length: 1-3, 4-5, 6-7, 8-9, 10-11 letters, and per letter
  beyond 11; cheaper on an English line (a line of 5+ words, a fifth of them English stop
  words, in a message of 12+ words, 15% of them stop words), where BPE vocabularies hold
  most words whole; dearer elsewhere (code, other languages, short messages);
- an all-capitals hump, and a hump with no vowel or a run of 5 consonants or a letter or
  pair repeated three times (`jdjdjd`, `hahaha`), per letter;
- a long ASCII word that looks random (base64, hashes, ids: many case or letter/digit
  changes), per character;
- digits per group of three; an ASCII punctuation mark; a non-ASCII character by range
  (Latin, other two-byte scripts, CJK, other three-byte, four-byte such as emoji);
- a newline; a run of two or more spaces (almost always a token of its own);
- one more for a text of one to three words (a rare word alone splits in three).

The sum is rounded up. The weights were fitted (a linear program: the smallest total
estimate with every message at or above 0.93 of the largest reference count).

The rule: no message is undercounted by more than 10% by OpenAI's cl100k_base or
o200k_base or Anthropic's legacy (pre-Claude-3) tokenizer. Measured by
`python -m bench.tokens` (load 6.7) on 78,090 messages of the shared data, estimate /
reference per message: lowest 0.933 for each; median 1.619 (cl100k_base), 1.643
(o200k_base), 1.565 (claude-legacy); 1st percentile 1.269, 1.312, 1.222. On 68,935
ShareGPT messages left out of the fit: lowest 0.901, 0.917, 0.909 (docs/retrieval.md,
"Context within a budget").
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator

from .stopwords import STOP_WORDS

__all__ = ("WEIGHTS", "cut_to_tokens", "estimate_tokens")


# Piece kind -> tokens (fitted: see the module's docstring). A hump of letters: e/o (on an
# English line or not) + w + the bucket's longest length (99: 12 letters or more, which also
# pay `elong`/`olong` per letter beyond 11). Per letter: `upper`, `odd`; per character:
# `random`. Per piece: the rest.
WEIGHTS: dict[str, float] = {
    "ew3": 1.26, "ew5": 1.93, "ew7": 1.93, "ew9": 1.93, "ew11": 1.93, "ew99": 1.93,
    "ow3": 1.44, "ow5": 1.93, "ow7": 3.1, "ow9": 4.22, "ow11": 4.79, "ow99": 4.79,
    "elong": 0.3, "olong": 0.3, "upper": 0.61, "odd": 0.55, "random": 0.8,
    "digits": 1.76, "punct": 0.87, "latin": 1.62, "greek": 1.6, "two": 1.16, "cjk": 2.01, "three": 2.56,
    "four": 3.0, "newline": 0.85, "spaces": 0.9, "short": 1.0,
}  # fmt: skip
_KINDS = (
    *(f"{c}w{n}" for c in "eo" for n in (3, 5, 7, 9, 11, 99)),
    "elong",
    "olong",
    "upper",
    "odd",
    "random",
    "digits",
    "punct",
    "latin",
    "greek",
    "two",
    "cjk",
    "three",
    "four",
    "newline",
    "spaces",
    "short",
)
_INDEX = {k: i for i, k in enumerate(_KINDS)}

_WORD = re.compile(r"\S+")
_PART = re.compile(r"[A-Za-z]+|[0-9]+|[^A-Za-z0-9]")
_HUMP = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_CHANGE = re.compile(r"[a-z](?=[A-Z0-9])|[A-Z0-9](?=[a-z])|[0-9](?=[A-Za-z])|[+/=_](?=\w)")
_VOWEL = re.compile(r"[aeiouyAEIOUY]")
_ODD = re.compile(r"[^aeiouyAEIOUY]{5,}|(..?)\1\1")
_SPACES = re.compile(r" {2,}")
_STRIP = ".,!?;:'\"()"


def estimate_tokens(text: str) -> int:
    """An upper-leaning estimate of how many LLM tokens `text` takes (no framing)."""
    counts = piece_counts(text)
    return math.ceil(sum(WEIGHTS[k] * n for k, n in zip(_KINDS, counts, strict=True) if n))


def cut_to_tokens(text: str, budget: int) -> str:
    """A prefix of `text` that ends between words and fits in `budget` tokens by this same
    estimate: a galloping search, then bisection, over the word ends (the cost grows with
    the prefix kept, not the text). It is the longest such prefix unless a longer one costs
    less (words that make a line English can lower the estimate); it always fits."""
    if budget <= 0:
        return ""
    if estimate_tokens(text) <= budget:
        return text
    ends = [m.end() for m in _WORD.finditer(text)]
    low, high = 0, len(ends)  # the first `low` words fit; more than `high` do not
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


def piece_counts(text: str) -> list[float]:
    """How many pieces of each kind (`_KINDS`) `text` holds: what the weights multiply."""
    n = [0.0] * len(_KINDS)
    english = _english_message(text)
    words_seen = 0
    for line in text.split("\n"):
        words = _WORD.findall(line)
        words_seen += len(words)
        prefix = "e" if english and _english_line(words) else "o"
        for word in words:
            pieces = _cached(word, prefix) if len(word) <= _CACHED else _word_counts(word, prefix)
            for kind, count in pieces:
                n[kind] += count
    n[_INDEX["newline"]] = text.count("\n")
    n[_INDEX["spaces"]] = len(_SPACES.findall(text))
    n[_INDEX["short"]] = 1 if 0 < words_seen <= 3 else 0
    return n


def _word_counts(word: str, prefix: str) -> tuple[tuple[int, int], ...]:
    """(kind index, count) of one whitespace-free word."""
    if len(word) >= 12 and word.isascii() and len(_CHANGE.findall(word)) * 6 >= len(word):
        return ((_INDEX["random"], len(word)),)
    out: list[tuple[int, int]] = []
    for part in _PART.findall(word):
        c = part[0]
        if "A" <= c <= "Z" or "a" <= c <= "z":
            out.extend(_letters(part, prefix))
        elif "0" <= c <= "9":
            out.append((_INDEX["digits"], (len(part) + 2) // 3))
        elif c.isascii():
            out.append((_INDEX["punct"], 1))
        else:
            out.append((_INDEX[_script(ord(c))], 1))
    return tuple(out)


_CACHED = 40  # words up to this long are cached (they repeat; long ones rarely do)
_cached = functools.lru_cache(maxsize=1 << 15)(_word_counts)


def _letters(run: str, prefix: str) -> Iterator[tuple[int, int]]:
    humps = [run] if run.isupper() else _HUMP.findall(run)
    for hump in humps:
        size = len(hump)
        if size > 1 and hump.isupper():
            yield _INDEX["upper"], size
        elif (size > 1 and not _VOWEL.search(hump)) or _ODD.search(hump):
            yield _INDEX["odd"], size
        else:
            bucket = 3 if size <= 3 else 5 if size <= 5 else 7 if size <= 7 else 9
            if size > 9:
                bucket = 11 if size <= 11 else 99
            yield _INDEX[f"{prefix}w{bucket}"], 1
            if bucket == 99:
                yield _INDEX[f"{prefix}long"], size - 11


def _script(o: int) -> str:
    if o < 0x250:
        return "latin"
    if 0x370 <= o < 0x400:
        return "greek"
    if o < 0x800:
        return "two"
    if 0x2E80 <= o < 0xA000 or 0xAC00 <= o < 0xD7B0:
        return "cjk"
    return "three" if o < 0x10000 else "four"


def _stop_share(words: list[str]) -> float:
    stops = sum(1 for w in words if w.lower().strip(_STRIP) in STOP_WORDS)
    return stops / len(words) if words else 0.0


def _english_message(text: str) -> bool:
    words = _WORD.findall(text)
    return len(words) >= 12 and _stop_share(words) >= 0.15


def _english_line(words: list[str]) -> bool:
    return len(words) >= 5 and _stop_share(words) >= 0.2
