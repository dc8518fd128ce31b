"""The benchmark's queries: timed series per kind and filter, and checks against the
planted terms' true locations (bench/generate.py), run the same way on every engine."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = (
    "FILTERS",
    "KINDS",
    "Check",
    "Filters",
    "Query",
    "checks",
    "run_checks",
    "series",
)

KINDS = ("rare", "common", "two", "phrase")
FILTERS = ("none", "session", "role", "date")

# Realistic words and pairs of the corpus (ShareGPT / OpenAssistant / Taskmaster).
COMMON = ("function", "data", "example", "file", "value")
TWO = (("python", "function"), ("error", "message"), ("data", "file"), ("user", "input"))
PHRASE = (("machine", "learning"), ("for", "example"), ("error", "message"), ("the", "user"))


@dataclass(frozen=True)
class Filters:
    session_id: str | None = None
    role: str | None = None
    after: str | None = None  # exclusive, ISO 8601
    before: str | None = None  # exclusive, ISO 8601

    def admits(self, loc: dict[str, str]) -> bool:
        """Would a message at this location pass the filters?"""
        return (
            (self.session_id is None or loc["session_id"] == self.session_id)
            and (self.role is None or loc["role"] == self.role)
            and (self.after is None or loc["created_at"] > self.after)
            and (self.before is None or loc["created_at"] < self.before)
        )

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Query:
    """Words that must all match; `phrase`: next to each other, in order."""

    kind: str
    words: tuple[str, ...]
    phrase: bool = False

    def ours(self) -> str:
        """In codearchitect's query syntax (docs/indexing.md): `+` makes each word (or the
        phrase) required as written, the meaning of every engine's query here. Plain words
        would be ranked, not required, stemmed, and matched in session titles too."""
        joined = " ".join(self.words)
        return f'+"{joined}"' if self.phrase else " ".join(f"+{w}" for w in self.words)

    def natural(self) -> str:
        """The same words as a person types them: ranked (docs/indexing.md)."""
        joined = " ".join(self.words)
        return f'"{joined}"' if self.phrase else joined

    def fts5(self) -> str:
        """In SQLite FTS5's MATCH syntax (quoted, so no word is read as an operator)."""
        if self.phrase:
            return '"' + " ".join(self.words) + '"'
        return " ".join(f'"{w}"' for w in self.words)

    def patterns(self) -> list[re.Pattern[str]]:
        """Regular expressions that all match a text exactly when the query does: words are
        runs of letters and digits, compared without case (as tantivy's default tokenizer)."""
        words = [re.escape(w) for w in self.words]
        if self.phrase:
            words = [r"[\W_]+".join(words)]
        return [re.compile(rf"(?<![^\W_]){w}(?![^\W_])", re.IGNORECASE) for w in words]

    def matches(self, text: str) -> bool:
        """The same test by brute force."""
        return all(p.search(text) for p in self.patterns())


@dataclass(frozen=True)
class Check:
    """One query whose true answer is known: exactly these message ids."""

    label: str
    query: Query
    filters: Filters
    expected: frozenset[str]


Engine = Callable[[Query, Filters, int], tuple[list[str], int]]


def series(
    manifest: dict[str, Any], repeats: int, sessions: list[str]
) -> dict[str, list[tuple[Query, Filters]]]:
    """`{"rare/none": [(query, filters), ...], ...}`: `repeats` calls per kind and filter,
    rotating through different words, sessions and planted terms."""
    rare_terms = [t for t, locs in manifest["planted"].items() if locs]
    span = _window(manifest)
    out: dict[str, list[tuple[Query, Filters]]] = {}
    for kind in KINDS:
        for filt in FILTERS:
            calls: list[tuple[Query, Filters]] = []
            for i in range(repeats):
                if kind == "rare":
                    term = rare_terms[i % len(rare_terms)]
                    query = Query(kind, (term,))
                    home = manifest["planted"][term][0]["session_id"]
                elif kind == "common":
                    query = Query(kind, (COMMON[i % len(COMMON)],))
                    home = sessions[i % len(sessions)]
                elif kind == "two":
                    query = Query(kind, TWO[i % len(TWO)])
                    home = sessions[i % len(sessions)]
                else:
                    query = Query(kind, PHRASE[i % len(PHRASE)], phrase=True)
                    home = sessions[i % len(sessions)]
                filters = {
                    "none": Filters(),
                    "session": Filters(session_id=home),
                    "role": Filters(role="assistant"),
                    "date": Filters(after=span[0], before=span[1]),
                }[filt]
                calls.append((query, filters))
            out[f"{kind}/{filt}"] = calls
    return out


def _window(manifest: dict[str, Any]) -> tuple[str, str]:
    """The middle tenth of the vault's time span (a date filter admitting ~10%)."""
    first = _parse(manifest["first_created"])
    last = _parse(manifest["last_created"]) + timedelta(hours=1)
    span = last - first
    return _fmt(first + span * 0.45), _fmt(first + span * 0.55)


def checks(manifest: dict[str, Any], max_terms: int, max_pairs: int) -> list[Check]:
    """Planted-term queries with known answers, unfiltered and with each filter."""
    out: list[Check] = []
    planted = [(t, locs) for t, locs in manifest["planted"].items() if locs][:max_terms]
    for term, locs in planted:
        out += _variants(f"rare {term}", Query("rare", (term,)), locs)
    for pair in manifest["pairs"][:max_pairs]:
        words = (pair["a"], pair["b"])
        if pair["both"]:
            out += _variants(f"two {pair['a']}", Query("two", words), pair["both"])
        if pair["adjacent"]:
            out += _variants(
                f"phrase {pair['a']}", Query("phrase", words, phrase=True), pair["adjacent"]
            )
    return out


def _variants(label: str, query: Query, locs: list[dict[str, str]]) -> list[Check]:
    home = locs[0]
    moment = _parse(home["created_at"])
    variants = {
        "none": Filters(),
        "session": Filters(session_id=home["session_id"]),
        "role": Filters(role=home["role"]),
        "date": Filters(
            after=_fmt(moment - timedelta(seconds=1)), before=_fmt(moment + timedelta(seconds=1))
        ),
    }
    return [
        Check(
            f"{label}/{name}",
            query,
            filters,
            frozenset(loc["message_id"] for loc in locs if filters.admits(loc)),
        )
        for name, filters in variants.items()
    ]


def run_checks(engine: Engine, todo: list[Check], limit: int = 50) -> dict[str, Any]:
    """Run every check; a check passes when the hit ids and the total are exactly right."""
    failures: list[dict[str, Any]] = []
    for check in todo:
        try:
            ids, total = engine(check.query, check.filters, limit)
        except Exception as exc:
            failures.append({"check": check.label, "error": f"{type(exc).__name__}: {exc}"})
            continue
        if set(ids) != check.expected or len(ids) != len(set(ids)) or total != len(check.expected):
            failures.append(
                {
                    "check": check.label,
                    "expected": sorted(check.expected),
                    "got": sorted(ids),
                    "total": total,
                }
            )
    return {
        "checked": len(todo),
        "passed": len(todo) - len(failures),
        "failed": len(failures),
        "ok": not failures and bool(todo),
        "failures": failures[:10],
    }


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
