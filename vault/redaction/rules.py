"""A detection rule, and the finders rules are made of.

A rule names the kind of secret it finds, the literal strings (lower case) one of which
must be in the text before it runs at all, and a finder that yields the spans of secret
values. The trigger check is a plain substring search on the lower-cased text, so text
without any trigger costs a few microseconds per kilobyte and never runs a regex.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = (
    "SPECIFIC",
    "Finder",
    "Rule",
    "regex_finder",
    "windows",
)

Span = tuple[int, int]
Finder = Callable[[str, str], Iterator[Span]]
"""(text, text.lower()) -> spans of secret values in `text`."""

SPECIFIC, CONTEXT, ENTROPY = 3, 2, 1
"""Priorities: a provider's own token format beats a secret found by its context, which
beats a merely random-looking string, when findings overlap."""

_TOKEN_CHAR = re.compile(r"[A-Za-z0-9_\-]")


@dataclass(frozen=True)
class Rule:
    kind: str
    triggers: tuple[str, ...]
    finder: Finder
    priority: int = SPECIFIC
    extend: bool = True
    """Widen a span over the token characters around it (a key longer than the pattern
    says is still removed whole)."""
    requires: tuple[str, ...] = ()
    """Strings that must all be in the text too (lower case)."""

    def find(self, text: str, lower: str) -> Iterator[Span]:
        if not any(t in lower for t in self.triggers):
            return
        if not all(t in lower for t in self.requires):
            return
        for start, end in self.finder(text, lower):
            if self.extend:
                start, end = _widen(text, start, end)
            if end > start:
                yield start, end


def regex_finder(
    pattern: re.Pattern[str] | Callable[[], re.Pattern[str]],
    group: int = 0,
    check: Callable[[str], bool] | None = None,
) -> Finder:
    """Spans of `pattern` (its `group`, else the first group that matched when the
    pattern has groups and `group` is 0: detect-secrets' own reading of its patterns).
    `pattern` may be a function returning it, called on first use (lazy imports)."""
    cache: list[re.Pattern[str]] = []

    def find(text: str, lower: str) -> Iterator[Span]:
        if not cache:
            cache.append(pattern() if callable(pattern) else pattern)
        for m in cache[0].finditer(text):
            span = _span(m, group)
            if span is None:
                continue
            if check is not None and not check(text[span[0] : span[1]]):
                continue
            yield span

    return find


def windows(
    text: str, lower: str, needle: re.Pattern[str], before: int, after: int
) -> Iterator[Span]:
    """Line-bounded windows around each match of `needle` (case-insensitive) in `text`
    (merged when they overlap): where line-based patterns run, instead of over whole
    multi-megabyte texts."""
    last_end = -1
    pending: Span | None = None
    for m in needle.finditer(text):
        if m.start() < last_end:
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        if line_end < 0:
            line_end = len(text)
        start = max(line_start, m.start() - before)
        end = min(line_end, m.end() + after)
        last_end = end
        if pending is not None and start <= pending[1]:
            pending = (pending[0], max(pending[1], end))
            continue
        if pending is not None:
            yield pending
        pending = (start, end)
    if pending is not None:
        yield pending


def _span(m: re.Match[str], group: int) -> Span | None:
    if group or not m.re.groups:
        start, end = m.span(group)
        return (start, end) if start >= 0 else None
    for i in range(1, m.re.groups + 1):
        if m.group(i):
            return m.span(i)
    return None


def _widen(text: str, start: int, end: int) -> Span:
    n = len(text)
    while start > 0 and _TOKEN_CHAR.match(text[start - 1]):
        start -= 1
    while end < n and _TOKEN_CHAR.match(text[end]):
        end += 1
    return start, end
