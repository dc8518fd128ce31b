"""Make tests/fixtures/context_framing.json: pieces of a get_context result, laid out by
the layout's own functions (`indexer.context`: `render` joins them), with their counts
under the reference tokenizers.

    python -m bench.framing [--out tests/fixtures/context_framing.json]

Needs the three references of bench/tokens.py (`make bench-tokens` installs them). Each
piece is `{kind, value, text, tokens}`: `value` is what the layout function was given (a
message, a session or a pointer as `Context.to_dict()` has them; for an envelope, a whole
result without sessions), `text` what it wrote. tests/retrieval/test_context_cost.py
prices each value and checks the price against the counts, and that the layout still
writes each text.

- `frame-*`: nothing a user wrote: an entry `\\n[N] ROLE: ` with an empty content (offsets
  of every width, each role, with and without a date and `near`), a session header with an
  empty title (session ids of every shape, dates), a pointer `, ID [N]`, and an empty
  result (each mode, counts of every width, with and without pointers);
- `entry` / `header`: every text of tests/fixtures/token_samples.json as a message's
  content and as a title.

The constants of indexer/context_cost.py are the largest count of a frame piece beyond its
values' own.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from indexer.context import (
    Context,
    ContextMessage,
    ContextSession,
    Pointer,
    entry_text,
    head_text,
    header_text,
    pointer_text,
    tail_text,
)

from .tokens import fill_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SAMPLES = FIXTURES / "token_samples.json"
ROLES = ("user", "assistant", "system", "tool")
MODES = ("keyword", "semantic", "hybrid")
SESSION_IDS = (
    "session-20230712-163300-caroline-hey-mel-great-to-chat-with-you",
    "ops-1",
    "s-01HZX3Q9K2M7",
    "walk-07",
    "session-20240101-000000-déploiement-clés",
    "a" * 60,
)
DATES = ("2023-07-12T16:33:00.000Z", "1999-12-31T23:59:59.999Z", "2026-01-05T08:07:06.000Z")
OFFSETS = (0, 7, 12, 123, 4567, 99999, 3, 1234567)

__all__ = ("main", "pieces")


def _message(n: int, content: str, *, near: bool, dated: bool) -> dict[str, Any]:
    return ContextMessage(
        offset=OFFSETS[n % len(OFFSETS)],
        role=ROLES[n % len(ROLES)],
        content=content,
        hit=not near,
        day_differs=dated,
        created_at=DATES[n % len(DATES)],
    ).to_dict()


def _session(session_id: str, title: str, date: str) -> dict[str, Any]:
    return ContextSession(session_id, title, date, ()).to_dict()


def _envelope(mode: str, tokens: int, count: int, pointers: int) -> dict[str, Any]:
    omitted = tuple(
        Pointer(SESSION_IDS[i % 2], OFFSETS[i % len(OFFSETS)], "", i) for i in range(count)
    )
    return Context(mode, 1_000_000, tokens, (), omitted, min(pointers, count)).to_dict()


def pieces(texts: list[str]) -> list[dict[str, Any]]:
    """Every piece as `{kind, value, text}`, without counts."""
    out: list[dict[str, Any]] = []

    def add(kind: str, value: Any, text: str) -> None:
        out.append({"kind": kind, "value": value, "text": text})

    for n in range(len(OFFSETS)):
        m = _message(n, "", near=n % 2 == 1, dated=n >= 5)
        add("frame-entry", m, entry_text(m))
    for n, sid in enumerate(SESSION_IDS):
        s = _session(sid, "", DATES[n % len(DATES)])
        add("frame-header", s, header_text(s))
        p = [sid, OFFSETS[n % len(OFFSETS)]]
        add("frame-pointer", p, "," + pointer_text(p))
    for mode in MODES:
        for tokens, count, pointers in ((100, 0, 0), (999, 7, 1), (1_000_000, 150, 3)):
            data = _envelope(mode, tokens, count, pointers)
            add("frame-envelope", data, head_text(data) + tail_text(data["omitted"]))
    for n, text in enumerate(texts):
        m = _message(n, text, near=n % 4 == 1, dated=n % 5 == 0)
        add("entry", m, entry_text(m))
        s = _session(SESSION_IDS[n % len(SESSION_IDS)], text, DATES[n % len(DATES)])
        add("header", s, header_text(s))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.framing", description=__doc__)
    parser.add_argument("--out", type=Path, default=FIXTURES / "context_framing.json")
    args = parser.parse_args(argv)
    texts = [s["text"] for s in json.loads(SAMPLES.read_text(encoding="utf-8"))["samples"]]
    samples = pieces(texts)
    args.out.write_text(
        json.dumps({"samples": samples}, indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    fill_fixture(args.out)
    print(f"{args.out}: {len(samples)} pieces")


if __name__ == "__main__":
    main()
