"""What a get_context result costs against its budget (docs/retrieval.md, "Context within
a budget"): the layout our own code writes at what it really costs, the values a user
controls at the conservative estimate (indexer/tokens.py).

The result is a transcript, priced by its parts as `render` (indexer/context.py) lays them
out:

- the envelope, once: `mode: … · tokens: N` and `\\nomitted: N` (`· best:` and its
  pointers when there are any);
- a session header: `\\n## session ID · DATE · TITLE`;
- a message entry: `\\n[N] ROLE: CONTENT`, with `, DATE` and `, near` where they apply;
- a pointer: ` ID [N]`, and the comma between two.

The layout constants are the largest count, over OpenAI's cl100k_base and o200k_base and
Anthropic's legacy tokenizer, of a piece's tokens beyond its values' own (the piece counted
whole minus its values counted alone, on every text of tests/fixtures/token_samples.json
as a content and as a title; `python -m bench.framing` lays the pieces out with the
layout's own functions and counts them). What varies is charged apart: a string a user
controls (content, title, session id) by `estimate_tokens` of the text as written (nothing
is escaped); a number by its digits; a date (canonical UTC, our own) and a role (one of
four words) by their measured largest count.
"""

from __future__ import annotations

import functools
from typing import Any

from .tokens import estimate_tokens

__all__ = (
    "BEST",
    "entry_cost",
    "envelope_cost",
    "header_cost",
    "one_line",
    "pointer_cost",
    "result_cost",
    "text_cost",
)

ENVELOPE = 11  # `mode: … · tokens: ` and `\nomitted: `, any of the three modes
BEST = 3  # ` · best:` when pointers follow
HEADER = 5  # `\n## session `, the two ` · `
ENTRY = 5  # `\n[`, `] `, `: `
ENTRY_DATE = 1  # `, ` before a date in an entry
FLAG = 2  # `, near`
POINTER = 2  # `, `, ` [`, `]`
DATE = 12  # "2023-07-12T16:33Z" (to the minute, as get_context shows dates): at most 12
ROLE = 1  # user, assistant, system, tool: one token each in all three


def result_cost(data: dict[str, Any]) -> int:
    """The whole result (`Context.to_dict()`, or the tool's text parsed): what `tokens` is."""
    sessions = data["sessions"]
    return (
        envelope_cost(data)
        + sum(header_cost(s) + sum(entry_cost(m) for m in s["messages"]) for s in sessions)
        + sum(pointer_cost(p) for p in data["omitted"]["best"])
    )


def envelope_cost(data: dict[str, Any]) -> int:
    omitted = data["omitted"]
    best = BEST if omitted["best"] else 0
    return ENVELOPE + _number(data["tokens"]) + _number(omitted["count"]) + best


def header_cost(session: dict[str, Any]) -> int:
    """A session's header; its messages are priced apart (`entry_cost`)."""
    return HEADER + text_cost(session["session_id"]) + text_cost(one_line(session["title"])) + DATE


def entry_cost(message: dict[str, Any]) -> int:
    cost = ENTRY + _number(message["offset"]) + ROLE + text_cost(message["content"])
    if "date" in message:
        cost += ENTRY_DATE + DATE
    return cost + FLAG * bool(message.get("near"))  # `cut`: the marker in the content says it


def pointer_cost(pointer: list[Any]) -> int:
    session_id, offset = pointer
    return POINTER + text_cost(session_id) + _number(offset)


@functools.lru_cache(maxsize=512)
def text_cost(value: str) -> int:
    """A string as the result writes it, by the conservative estimate. Cached: get_context
    prices the same contents, titles and ids again and again (a message whole, then its
    cuts; each header), and the estimate reads every word."""
    return estimate_tokens(value)


def one_line(text: str) -> str:
    """A title as a session's header line writes it: its line breaks read as spaces."""
    return " ".join(text.splitlines())


def _number(value: int) -> int:
    """Digits: one token per three in cl100k_base and o200k_base, per two at most in
    claude-legacy (measured up to seven digits)."""
    return (len(str(value)) + 1) // 2
