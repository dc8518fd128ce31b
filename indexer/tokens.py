"""A token count estimate for budgets, with no tokenizer (docs/retrieval.md).

Text is read line by line and word by word (split on whitespace, noting whether a space
comes just before the word); a word is split as BPE tokenizers pre-split it: ASCII letter
runs, digit runs, runs of ASCII punctuation, a contraction (`'s`, `'ll`), a JSON escape
(`\\n`, `\\"`), single other characters; a letter run into its humps (`getUserName` ->
get, User, Name). Each piece is charged by its kind (`WEIGHTS`):

- a *known word*: a hump that is one token, in the form it appears (` word` after a space,
  `word` at a line's start, after punctuation or inside a camelCase word), in each of the
  three references below. `indexer/data/known_words.txt.gz` lists them (40,189 forms, exact
  case), made by `python -m bench.known_words` from the references' vocabularies and
  checked against its sha256 when first used. Cheaper on an English line (a line of 5+
  words, a fifth of them English stop words, in a message of 12+ words, 15% of them stop
  words) than elsewhere (code, other languages, short messages);
- another hump by the known pieces a greedy longest-first split makes of it
  (` Koyaanisqatsi` -> ` Ko`, ya, ani, sq, ats, i), per piece; an all-capitals hump, and a
  hump with no vowel or a run of 5 consonants or a letter or pair repeated three times
  (`jdjdjd`, `hahaha`), per letter;
- a long ASCII word that looks random (base64, hashes, ids: many case or letter/digit
  changes), per character;
- digits per group of three, and one more for a number just after a space; a run of ASCII
  punctuation, and per mark; a JSON escape; a non-ASCII character by range (Latin, Greek,
  other two-byte scripts, CJK, other three-byte, four-byte such as emoji);
- a newline; a run of two or more spaces; a run of tabs;
- one more for a text of one to three words (a rare word alone splits in three).

The sum is rounded up. The weights are fitted by `python -m bench.fit_tokens`: a linear
program, the smallest total estimate with every text at or above 0.94 of the largest
reference count, each text of the fit both as stored and JSON-escaped (as get_context
prices it), under floors for what the fit's data cannot be trusted with (bench/fit_tokens.py).

The rule: no message is undercounted by more than 10% by OpenAI's cl100k_base or
o200k_base or Anthropic's legacy (pre-Claude-3) tokenizer. Measured by
`python -m bench.tokens --held-out 70000` (and `--escaped`): FIGURES.
"""

from __future__ import annotations

import bisect
import functools
import gzip
import hashlib
import math
import re
import zlib
from collections.abc import Iterator
from importlib import resources

from .errors import IndexerError
from .stopwords import STOP_WORDS

__all__ = ("FAR_CHARS_PER_TOKEN", "WEIGHTS", "cut_to_tokens", "estimate_tokens", "known_words")

KNOWN_WORDS = "known_words.txt.gz"  # in indexer/data, made by bench/known_words.py
_REINSTALL = "the token estimate's known words are part of the package: reinstall codearchitect"
KNOWN_WORDS_SHA256 = "5b3c243b7b7675d7de7f0d5e6930ce26c43318c36d11f9c2286718a24a92c7a4"

# Piece kind -> tokens, fitted by bench/fit_tokens.py (see the module's docstring). Per piece:
# a known word or contraction (`eknown` on an English line, `oknown` elsewhere); a group of
# up to three digits (`digits`), + `sdigits` when a space comes just before the number; a
# run of ASCII punctuation (`prun`) + `punct` per mark; a JSON escape (`\\n`); a newline; a
# run of 2+ spaces; a run of tabs (`blank`); one more for a text of 1-3 words (`short`). Per
# known piece of an unknown hump (`eseg`, `oseg`). Per letter: `upper`, `odd`. Per
# character: `random`, and each non-ASCII kind (`latin` ... `four`).
WEIGHTS: dict[str, float] = {
    "eknown": 1.0469, "oknown": 1.1277, "eseg": 1.518, "oseg": 1.6222, "upper": 0.5643,
    "odd": 0.5884, "random": 0.7704, "digits": 0.94, "sdigits": 0.9977, "punct": 0.4343,
    "prun": 0.4586, "escape": 1.88, "latin": 1.62, "greek": 1.6, "two": 1.1874, "cjk": 2.01,
    "three": 2.661, "four": 3.0, "newline": 1.1296, "spaces": 0.94, "blank": 0.94,
    "short": 2.2054,
}  # fmt: skip
_KINDS = tuple(WEIGHTS)
_INDEX = {k: i for i, k in enumerate(_KINDS)}
_EKNOWN, _OKNOWN, _ESEG, _OSEG = (_INDEX[k] for k in ("eknown", "oknown", "eseg", "oseg"))
# The least a piece of each kind adds to any text holding it (`_Prefixes.least`): a known
# word or known piece the smaller of its two kinds' weights (a longer text may make its
# line English, or not), nothing for `short` (a longer text may not be short).
_TWINS = {"eknown": "oknown", "oknown": "eknown", "eseg": "oseg", "oseg": "eseg"}
_LEAST = tuple(0.0 if k == "short" else min(WEIGHTS[k], WEIGHTS[_TWINS.get(k, k)]) for k in _KINDS)
_ROUNDING = 0.001  # more than the float rounding of a sum of a text's weighted counts

_WORD = re.compile(r"\S+")
_SPACED = re.compile(r"( ?)(\S+)")
_PART = re.compile(
    r"'(?:[sdmt]|ll|ve|re)(?![A-Za-z])|\\[nrt\"\\/]|[A-Za-z]+|[0-9]+|[!-&(-/:-@\[\]-`{-~]+|."
)
_HUMP = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_CHANGE = re.compile(r"[a-z](?=[A-Z0-9])|[A-Z0-9](?=[a-z])|[0-9](?=[A-Za-z])|[+/=_](?=\w)")
_VOWEL = re.compile(r"[aeiouyAEIOUY]")
_ODD = re.compile(r"[^aeiouyAEIOUY]{5,}|(..?)\1\1")
_SPACES = re.compile(r" {2,}")
_BLANK = re.compile(r"[\t\r\v\f]+")  # ASCII whitespace other than a space or a newline
_WIDE_BLANK = re.compile(r"[^\S\t\n\r\v\f ]")  # non-ASCII whitespace (NBSP, ...)
_NEWLINE = re.compile("\n")
_STRIP = ".,!?;:'\"()"
_LONGEST = 20  # the longest known form tried when a hump is split into known pieces
FAR_CHARS_PER_TOKEN = 16  # more characters than an estimated token ever covers in practice


class KnownWordsError(IndexerError):
    """The known-word file is missing or not the one the weights were fitted with: a broken
    install (INDEX_UNAVAILABLE, docs/errors.md)."""


@functools.cache
def known_words() -> frozenset[str]:
    """The known words (bench/known_words.py), checked against their pinned sha256."""
    try:
        data = gzip.decompress(
            resources.files(__package__).joinpath("data", KNOWN_WORDS).read_bytes()
        )
    except (OSError, EOFError, zlib.error) as exc:
        raise KnownWordsError(
            f"indexer/data/{KNOWN_WORDS} cannot be read: {exc}", details=_REINSTALL
        ) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != KNOWN_WORDS_SHA256:
        raise KnownWordsError(
            f"indexer/data/{KNOWN_WORDS}: sha256 {actual}, expected {KNOWN_WORDS_SHA256}",
            details=_REINSTALL,
        )
    return frozenset(data.decode("ascii").split("\n")) - {""}


def estimate_tokens(text: str) -> int:
    """An upper-leaning estimate of how many LLM tokens `text` takes (no framing)."""
    return _total(piece_counts(text))


def _total(counts: list[float]) -> int:
    """The estimate of pieces counted by kind (`_KINDS`)."""
    return math.ceil(sum(WEIGHTS[k] * n for k, n in zip(_KINDS, counts, strict=True) if n))


def cut_to_tokens(text: str, budget: int) -> str:
    """A prefix of `text` that ends between words and fits in `budget` tokens by this same
    estimate: a galloping search, then bisection, over the word ends. It is the longest
    such prefix unless a longer one costs less (words that make a line English can lower
    the estimate); it always fits.

    The estimates of the prefixes it tries come from one pass over the words
    (`_Prefixes`), each exactly `estimate_tokens` of that prefix: the cost grows with the
    text read, not with the text times the number of prefixes tried."""
    if budget <= 0:
        return ""
    # Only the first `budget` x FAR_CHARS_PER_TOKEN characters are read: an estimated token
    # covers fewer characters than that (a run of spaces is the longest), so the text that
    # fits lies within them (a long log is not read to its end for every cut).
    reach = budget * FAR_CHARS_PER_TOKEN
    prefixes = _Prefixes(text, reach)
    whole = len(text) <= reach  # may the whole text fit? (known after the galloping search)
    low, step = 0, 16  # the first `low` words fit; more than `high` do not
    while True:
        if not prefixes.has(low + step + 1):  # no word after the next probe's: stop there
            high = len(prefixes.ends)
            break
        if prefixes.estimate(low + step) > budget:
            high = low + step - 1
            # A text that begins so costs more than the budget whatever follows: then the
            # whole one does not fit, known without reading it all.
            whole = whole and prefixes.least(low + step) <= budget + _ROUNDING
            break
        low += step
        step *= 2
    if whole and estimate_tokens(text) <= budget:
        return text
    while low < high:
        mid = (low + high + 1) // 2
        if prefixes.estimate(mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return text[: prefixes.ends[low - 1]] if low else ""


class _Prefixes:
    """`estimate_tokens` of each prefix `text[: ends[k - 1]]` (its first k words):
    `estimate(k)`, from one pass over the words of `text[:reach]`, made as far as the
    prefixes asked for need (`has(k)`: are there k words?).

    `piece_counts` of such a prefix adds up its words' pieces and the whitespace before
    its end (newlines, runs of spaces or tabs, wide blanks: each lies wholly before the
    prefix's end, which ends a word). A word counts the same on an English line as on
    another but for its known words and known pieces (`_english`). A line is English when
    the message is (its words and stop words, so far) and the line is (its words and stop
    words: all of them for a line before the last, so far for the last). So the pass keeps,
    at the start of each line, the sums of the lines before it as an English message counts
    them and as another does, and within a line the sum of its words every `_EVERY` words.
    Counts are whole numbers: sums made in another order are the same floats, and `_total`
    makes the same estimate."""

    _EVERY = 16

    def __init__(self, text: str, reach: int) -> None:
        self._text = text
        self._found = _WORD.finditer(text, 0, reach)
        self._words: list[re.Match[str]] = []  # the words found so far
        self.ends: list[int] = []  # where each word found so far ends
        self._first: list[int] = []  # per word read: the first word of its line
        self._stops = [0]  # how many of the first k words are stop words
        self._pieces: list[_Pieces] = []  # per word read, as on a line that is not English
        # per line, by its first word: the lines before it, as an English message counts
        # them and as another does
        self._before: dict[int, tuple[list[float], list[float]]] = {}
        # (a line's first word, words into the line): those words' sum
        self._marks: dict[tuple[int, int], list[float]] = {}
        size = len(_KINDS)
        self._sums = ([0.0] * size, [0.0] * size)  # the whole lines read, both ways
        self._line = [0.0] * size  # the line being read
        # Whitespace before the end of the words read (a run never spans a word's end).
        self._scanned = 0
        self._newlines: list[int] = []
        self._spaces: list[int] = []
        self._blanks: list[int] = []
        self._wide: list[tuple[int, int]] = []

    def has(self, words: int) -> bool:
        """Does the text read hold at least `words` words? (Finds them if so.)"""
        found = self._words
        while len(found) < words:
            match = next(self._found, None)
            if match is None:
                return False
            found.append(match)
            self.ends.append(match.end())
        return True

    def _read(self, upto: int) -> None:
        """Read the first `upto` words (they are found) and the whitespace among them."""
        text, line = self._text, self._line
        first = self._first[-1] if self._first else 0
        for n in range(len(self._pieces), upto):
            match = self._words[n]
            start = match.start()
            if n == 0 or text.find("\n", self._words[n - 1].start(), start) >= 0:
                if n:  # the line before is whole
                    words, stops = n - first, self._stops[n] - self._stops[first]
                    english, other = self._sums
                    own = _english(line) if words >= 5 and stops >= 0.2 * words else line
                    self._sums = (
                        [a + b for a, b in zip(english, own, strict=True)],
                        [a + b for a, b in zip(other, line, strict=True)],
                    )
                    line = self._line = [0.0] * len(_KINDS)
                self._before[n] = self._sums
                first = n
            word = match.group()
            space = " " if start and text[start - 1] == " " else ""
            pieces = (
                _cached(word, "o", space)
                if len(word) <= _CACHED
                else _word_counts(word, "o", space)
            )
            for kind, count in pieces:
                line[kind] += count
            self._first.append(first)
            self._stops.append(self._stops[-1] + _stop(word))
            self._pieces.append(pieces)
            if (n + 1 - first) % self._EVERY == 0:
                self._marks[(first, n + 1 - first)] = line.copy()
        end = self.ends[upto - 1]
        if end > self._scanned:
            start, self._scanned = self._scanned, end
            self._newlines += [m.start() for m in _NEWLINE.finditer(text, start, end)]
            self._spaces += [m.start() for m in _SPACES.finditer(text, start, end)]
            self._blanks += [m.start() for m in _BLANK.finditer(text, start, end)]
            self._wide += [
                (m.start(), _INDEX[_script(ord(m.group()))])
                for m in _WIDE_BLANK.finditer(text, start, end)
            ]

    def estimate(self, words: int) -> int:
        """`estimate_tokens` of the text up to the end of its `words`-th word (`has`
        said there is one)."""
        return _total(self._counts(words))

    def least(self, words: int) -> float:
        """At most the estimate of any text that begins with the first `words` words (up
        to float rounding): it holds their pieces, each known word or known piece of the
        English kind or of the other, and the whitespace among them, and every weight is
        positive."""
        return sum(w * n for w, n in zip(_LEAST, self._counts(words), strict=True))

    def _counts(self, words: int) -> list[float]:
        """`piece_counts` of the text up to the end of its `words`-th word."""
        n = [0.0] * len(_KINDS)
        end = 0
        if words:
            self._read(words)
            end = self.ends[words - 1]
            first = self._first[words - 1]
            stops = self._stops[words]
            english = words >= 12 and stops >= 0.15 * words
            in_line, line_stops = words - first, stops - self._stops[first]
            done = in_line - in_line % self._EVERY
            mark = self._marks.get((first, done))
            line = n if mark is None else mark.copy()
            for pieces in self._pieces[first + done : words]:
                for kind, count in pieces:
                    line[kind] += count
            if english and in_line >= 5 and line_stops >= 0.2 * in_line:
                line = _english(line)
            before = self._before[first][0 if english else 1]
            n = [a + b for a, b in zip(before, line, strict=True)]
        n[_INDEX["newline"]] = bisect.bisect_left(self._newlines, end)
        n[_INDEX["spaces"]] = bisect.bisect_left(self._spaces, end)
        n[_INDEX["blank"]] = bisect.bisect_left(self._blanks, end)
        n[_INDEX["short"]] = 1 if 0 < words <= 3 else 0
        for at, kind in self._wide:
            if at >= end:
                break
            n[kind] += 1
        return n


def _english(counts: list[float]) -> list[float]:
    """Counts of words read as on a line that is not English, as on an English line: the
    same pieces, but known words and known pieces of the English kinds (`_word_counts`
    gives a word's pieces so on either line)."""
    out = counts.copy()
    for english, other in ((_EKNOWN, _OKNOWN), (_ESEG, _OSEG)):
        out[english] += out[other]
        out[other] = 0.0
    return out


def piece_counts(text: str) -> list[float]:
    """How many pieces of each kind (`_KINDS`) `text` holds: what the weights multiply."""
    n = [0.0] * len(_KINDS)
    lines = [_SPACED.findall(line) for line in text.split("\n")]
    stops = [sum(map(_stop, (w for _, w in words))) for words in lines]
    words_seen = sum(map(len, lines))
    english = words_seen >= 12 and sum(stops) >= 0.15 * words_seen  # an English message
    for words, stop in zip(lines, stops, strict=True):
        # an English line: 5+ words, a fifth of them stop words, in an English message
        prefix = "e" if english and len(words) >= 5 and stop >= 0.2 * len(words) else "o"
        for space, word in words:
            for kind, count in _pieces(word, prefix, space):
                n[kind] += count
    n[_INDEX["newline"]] = text.count("\n")
    n[_INDEX["spaces"]] = len(_SPACES.findall(text))
    n[_INDEX["blank"]] = len(_BLANK.findall(text))
    for c in _WIDE_BLANK.findall(text):
        n[_INDEX[_script(ord(c))]] += 1
    n[_INDEX["short"]] = 1 if 0 < words_seen <= 3 else 0
    return n


@functools.lru_cache(maxsize=1 << 15)
def _stop(word: str) -> bool:
    return word.lower().strip(_STRIP) in STOP_WORDS


def _word_counts(word: str, prefix: str, space: str) -> tuple[tuple[int, int], ...]:
    """(kind index, count) of one whitespace-free word; `space` is " " when a space comes
    just before it."""
    if len(word) >= 12 and word.isascii() and len(_CHANGE.findall(word)) * 6 >= len(word):
        return ((_INDEX["random"], len(word)),)
    known = known_words()
    out: list[tuple[int, int]] = []
    for part in _PART.findall(word):
        c = part[0]
        if "A" <= c <= "Z" or "a" <= c <= "z":
            out.extend(_letters(part, prefix, space, known))
        elif "0" <= c <= "9":
            out.append((_INDEX["digits"], (len(part) + 2) // 3))
            if space:
                out.append((_INDEX["sdigits"], 1))
        elif c == "'" and len(part) > 1:
            out.append((_INDEX[f"{prefix}known"], 1))
        elif c == "\\" and len(part) > 1:
            out.append((_INDEX["escape"], 1))
        elif c.isascii():
            out.append((_INDEX["punct"], len(part)))
            out.append((_INDEX["prun"], 1))
        else:
            out.append((_INDEX[_script(ord(c))], 1))
        space = ""
    return tuple(out)


_CACHED = 40  # words up to this long are cached (they repeat; long ones rarely do)
_cached = functools.lru_cache(maxsize=1 << 15)(_word_counts)
_Pieces = tuple[tuple[int, int], ...]


def _pieces(word: str, prefix: str, space: str) -> _Pieces:
    """`_word_counts`, cached for a word that is not long."""
    return (
        _cached(word, prefix, space) if len(word) <= _CACHED else _word_counts(word, prefix, space)
    )


def _letters(run: str, prefix: str, space: str, known: frozenset[str]) -> Iterator[tuple[int, int]]:
    humps = [run] if run.isupper() else _HUMP.findall(run)
    for hump in humps:
        size = len(hump)
        if space + hump in known:
            yield _INDEX[f"{prefix}known"], 1
        elif size > 1 and hump.isupper():
            yield _INDEX["upper"], size
        elif (size > 1 and not _VOWEL.search(hump)) or _ODD.search(hump):
            yield _INDEX["odd"], size
        else:
            yield _INDEX[f"{prefix}seg"], _segments(hump, space, known)
        space = ""


def _segments(hump: str, space: str, known: frozenset[str]) -> int:
    """How many known pieces a greedy longest-first split of `hump` makes (a letter alone
    counts as one)."""
    n = 0
    start = 0
    size = len(hump)
    while start < size:
        end = min(size, start + _LONGEST)
        while end > start + 1 and space + hump[start:end] not in known:
            end -= 1
        n += 1
        start = end
        space = ""
    return n


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
