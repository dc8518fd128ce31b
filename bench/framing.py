"""Make tests/fixtures/context_framing.json: pieces of a get_context result, laid out as
`indexer.context.render` lays them out, with their counts under the reference tokenizers.

    python -m bench.framing [--out tests/fixtures/context_framing.json]

Needs the three references of bench/tokens.py (`make bench-tokens` installs them). The
pieces (tests/retrieval/test_context_cost.py reads them):

- `frame-*`: nothing a user wrote: an entry `\\n{…},` with an empty content (offsets of
  every width, each role, with and without `date`, `near` and `cut`), a session header
  `\\n{…,"messages":[]},` with an empty title (session ids of every shape, dates), a pointer
  `[…],`, and an empty result's envelope (each mode, counts of every width);
- `entry` / `header`: every text of tests/fixtures/token_samples.json as a message's
  content and as a title.

The constants of indexer/context_cost.py are the largest count of a frame piece beyond its
values' own; the tests check each piece against them.
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
    render,
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


def _lines(text: str) -> list[str]:
    """A rendered result's lines after the envelope's first: each ends a piece."""
    return text.split("\n")[1:]


def _entry(message: ContextMessage) -> str:
    """`\\n{…},` as render writes a message that is followed by another."""
    session = ContextSession("s", "", DATES[0], (message, message))
    line = _lines(render(_context((session,))))[1]
    return "\n" + line


def _header(session_id: str, title: str, date: str) -> str:
    """`\\n{…,"messages":[]},` as render writes a session header followed by another."""
    one = ContextMessage(0, "user", "")
    session = ContextSession(session_id, title, date, (one,))
    first = _lines(render(_context((session, session))))[0]
    return "\n" + first.removesuffix("[") + "[]},"


def _pointer(session_id: str, offset: int) -> str:
    text = render(_context((), (Pointer(session_id, offset, "", 1),) * 2, pointers=2))
    best = json.loads(text)["omitted"]["best"][0]
    return json.dumps(best, ensure_ascii=False, separators=(",", ":")) + ","


def _context(
    sessions: tuple[ContextSession, ...],
    omitted: tuple[Pointer, ...] = (),
    *,
    mode: str = "hybrid",
    tokens: int = 100,
    pointers: int = 0,
) -> Context:
    return Context(mode, 1_000_000, tokens, sessions, omitted, pointers)


def _message(n: int, content: str, *, near: bool, cut: bool, dated: bool) -> ContextMessage:
    return ContextMessage(
        offset=OFFSETS[n % len(OFFSETS)],
        role=ROLES[n % len(ROLES)],
        content=content,
        hit=not near,
        cut=cut,
        day_differs=dated,
        created_at=DATES[n % len(DATES)],
    )


def pieces(texts: list[str]) -> list[dict[str, Any]]:
    """Every piece as `{kind, text}`, without counts."""
    out: list[dict[str, Any]] = []
    for n in range(len(OFFSETS)):
        flags = {"near": n % 2 == 1, "cut": n % 3 == 2, "dated": n >= 6}
        out.append({"kind": "frame-entry", "text": _entry(_message(n, "", **flags))})
    for n, sid in enumerate(SESSION_IDS):
        out.append({"kind": "frame-header", "text": _header(sid, "", DATES[n % len(DATES)])})
        out.append({"kind": "frame-pointer", "text": _pointer(sid, OFFSETS[n % len(OFFSETS)])})
    for mode in MODES:
        for tokens, count in ((100, 0), (999, 7), (1_000_000, 150)):
            omitted = (Pointer("s", 0, "", 1),) * count
            text = render(_context((), omitted, mode=mode, tokens=tokens))
            out.append({"kind": "frame-envelope", "text": text})
    for n, text in enumerate(texts):
        flags = {"near": n % 4 == 1, "cut": n % 3 == 0, "dated": n % 5 == 0}
        out.append({"kind": "entry", "text": _entry(_message(n, text, **flags))})
        sid = SESSION_IDS[n % len(SESSION_IDS)]
        out.append({"kind": "header", "text": _header(sid, text, DATES[n % len(DATES)])})
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
