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
Found = tuple[int, int, str]
Finder = Callable[[str, str], Iterator[Span | Found]]
"""(text, text.lower()) -> spans of secret values in `text`, each with its kind when it is
not the rule's own."""

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
    in_tokens: bool = False
    """The triggers are prefixes of the secret itself, so they are looked for only in
    the text's long runs of token characters (much less text than the whole)."""

    def find(self, text: str, lower: str) -> Iterator[Found]:
        """(start, end, kind) of secrets (the caller checked a trigger is in `lower`)."""
        if self.requires and not all(t in lower for t in self.requires):
            return
        for found in self.finder(text, lower):
            start, end = found[0], found[1]
            kind = found[2] if len(found) == 3 else self.kind
            if self.extend:
                start, end = _widen(text, start, end)
            if end > start:
                yield start, end, kind


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
    """Line-bounded windows around each match of `needle` (lower case) in `lower`
    (merged when they overlap): where line-based patterns run, instead of over whole
    multi-megabyte texts."""
    last_end = -1
    pending: Span | None = None
    source = lower if len(lower) == len(text) else text
    for m in needle.finditer(source):
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
