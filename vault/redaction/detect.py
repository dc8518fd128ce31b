"""Finding secrets in one text: every rule, then one span per secret.

Overlapping findings become one span (their union, so no part of a secret is left), named
by the most specific rule among them. A finding that touches a marker already in the text
is not a secret: redacting twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .context import CONTEXT_RULES
from .markers import marker_spans
from .plugins import PLUGIN_RULES
from .providers import PROVIDER_RULES
from .rules import Rule

__all__ = ("KINDS", "RULES", "Finding", "find_secrets")

RULES: tuple[Rule, ...] = (*PROVIDER_RULES, *PLUGIN_RULES, *CONTEXT_RULES)
KINDS: frozenset[str] = frozenset(r.kind for r in RULES)


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    kind: str
    priority: int


def find_secrets(
    text: str, rules: Iterable[Rule] = RULES, allowed: Callable[[str], bool] | None = None
) -> list[Finding]:
    """Non-overlapping findings in `text`, in order."""
    if len(text) < 8:
        return []
    lower = text.lower()
    found: list[Finding] = []
    for rule in rules:
        for start, end in rule.find(text, lower):
            found.append(Finding(start, end, rule.kind, rule.priority))
    if not found:
        return []
    markers = marker_spans(text)
    if markers:
        found = [f for f in found if not any(f.start < e and s < f.end for s, e in markers)]
    if allowed is not None:
        found = [f for f in found if not allowed(text[f.start : f.end])]
    return _merge(found)


def _merge(found: list[Finding]) -> list[Finding]:
    found.sort(key=lambda f: (f.start, -f.end, -f.priority))
    out: list[Finding] = []
    for f in found:
        if out and f.start < out[-1].end:
            last = out[-1]
            best = last if last.priority >= f.priority else f
            out[-1] = Finding(last.start, max(last.end, f.end), best.kind, best.priority)
        else:
            out.append(f)
    return out
