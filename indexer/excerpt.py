"""Where a long message is cut for get_context: around the words the query asked for.

A message cut to its budget used to show its beginning; in a long tool result or log the
line that matched can sit thousands of tokens further down. `focus` finds the first piece
of the message (a line, or a stretch of about `PIECE_CHARS` of a long line, broken at a
space) that holds the most of the query's words, compared by their English stems, stop words
left out, and returns where the excerpt starts: `LEAD_PIECES` pieces before that piece, or
0 when the beginning is as good (no piece matches, or the best one ends within the tokens
the excerpt can hold).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .query import stem_word
from .stopwords import STOP_WORDS
from .tokens import FAR_CHARS_PER_TOKEN, estimate_tokens

__all__ = ("focus", "query_stems")

PIECE_CHARS = 400  # a long line is looked at in stretches of about this many characters
LEAD_PIECES = 2  # pieces shown before the best one (what led to it)
_WORD = re.compile(r"\w+")


def query_stems(query: str) -> frozenset[str]:
    """The stems of the query's words, stop words left out."""
    words = (w for w in _WORD.findall(query.lower()) if w not in STOP_WORDS)
    return frozenset(stem_word(w) for w in words)


def focus(text: str, stems: frozenset[str], room: int) -> int:
    """Where an excerpt of `text` that can hold about `room` tokens should start (a character
    offset at a line start or just after a space; 0: the beginning)."""
    if not stems:
        return 0
    best, best_at, best_end = 0, 0, 0
    recent: list[int] = []  # the starts of the last pieces, this one's included
    for start, end in _pieces(text):
        recent = [*recent[-LEAD_PIECES:], start]
        found = len(
            stems.intersection(stem_word(w) for w in _WORD.findall(text[start:end].lower()))
        )
        if found > best:
            best, best_at, best_end = found, recent[0], end
    if best == 0:
        return 0
    if best_end <= room * FAR_CHARS_PER_TOKEN and estimate_tokens(text[:best_end]) <= room:
        return 0
    return best_at


def _pieces(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line, a long line in stretches broken after a space."""
    at = 0
    for line in text.split("\n"):
        end = at + len(line)
        start = at
        while end - start > PIECE_CHARS:
            space = text.find(" ", start + PIECE_CHARS, end)
            if space < 0:
                break
            yield start, space + 1
            start = space + 1
        yield start, end
        at = end + 1
