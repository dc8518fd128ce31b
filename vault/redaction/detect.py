"""Finding secrets in one text: every rule, then one span per secret.

Overlapping findings become one span (their union, so no part of a secret is left), named
by the most specific rule among them. A finding that touches a marker already in the text
is not a secret: redacting twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .context import CONTEXT_RULES
from .filters import obvious_placeholder
from .markers import marker_spans
from .plugins import PLUGIN_RULES
from .providers import PROVIDER_RULES
from .rules import Rule

__all__ = ("ALL", "KINDS", "RULES", "Finding", "RuleSet", "find_secrets")

RULES: tuple[Rule, ...] = (*PROVIDER_RULES, *PLUGIN_RULES, *CONTEXT_RULES)
KINDS: frozenset[str] = frozenset(r.kind for r in RULES)


class RuleSet:
    """Rules, and their distinct trigger strings, each looked for once per text: those
    of token formats (`ghp_`, `akia`…) only in the text's whitespace-free stretches of
    14 characters or more (a small part of most texts), the others (`password`, `://`)
    in the whole text."""

    def __init__(self, rules: Iterable[Rule], disabled: frozenset[str] = frozenset()) -> None:
        self.rules = tuple(rules)
        self.disabled = disabled
        self.token_triggers = tuple(
            sorted({t for r in self.rules if r.in_tokens for t in r.triggers})
        )
        self.text_triggers = tuple(
            sorted({t for r in self.rules if not r.in_tokens for t in r.triggers})
        )
        self._by_trigger: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            for t in rule.triggers:
                self._by_trigger.setdefault(t, []).append(i)

    def triggered(self, lower: str) -> list[Rule]:
        hit = [t for t in self.text_triggers if t in lower]
        long = " ".join([w for w in lower.split() if len(w) >= 14])
        if long:
            hit.extend(t for t in self.token_triggers if t in long)
        if not hit:
            return []
        chosen = sorted({i for t in hit for i in self._by_trigger[t]})
        return [self.rules[i] for i in chosen]


ALL = RuleSet(RULES)


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    kind: str
    priority: int


def find_secrets(
    text: str,
    rules: RuleSet = ALL,
    allowed: Callable[[str], bool] | None = None,
    triggered: Sequence[Rule] | None = None,
) -> list[Finding]:
    """Non-overlapping findings in `text`, in order. `triggered`: the rules to run, when
    the caller already looked for triggers in a text holding this one (a message's
    strings are looked at together)."""
    if len(text) < 8 or triggered == []:
        return []
    lower = text.lower()
    found: list[Finding] = []
    for rule in rules.triggered(lower) if triggered is None else triggered:
        for start, end, kind in rule.find(text, lower):
            if kind not in rules.disabled:
                found.append(Finding(start, end, kind, rule.priority))
    if not found:
        return []
    markers = marker_spans(text)
    if markers:
        found = [f for f in found if not any(f.start < e and s < f.end for s, e in markers)]
    found = [f for f in found if not obvious_placeholder(text[f.start : f.end])]
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
