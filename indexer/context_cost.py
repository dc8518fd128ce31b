"""What a get_context result costs against its budget (docs/retrieval.md, "Context within
a budget"): the JSON framing our own code writes at what it really costs, the values a user
controls at the conservative estimate (indexer/tokens.py).

The result is priced by its parts, as `render` (indexer/context.py) lays them out:

- the envelope, once: `{"success":true,"mode":…,"tokens":N,"sessions":[…],\\n"omitted":
  {"count":N,"best":[…]}}`;
- a session header: `\\n{"session_id":"…","title":"…","date":"…","messages":[…]},`;
- a message entry: `\\n{"offset":N,"role":"…","content":"…"},`, with `"date":"…"`,
  `"near":true`, `"cut":true` where they apply;
- a pointer: `["…",N],`.

The framing constants are the largest count, over OpenAI's cl100k_base and o200k_base and
Anthropic's legacy tokenizer, of a piece's tokens beyond its values' own (the piece counted
whole minus its values counted alone, on 4,000 messages of the shared data and LoCoMo's
session ids and titles; `bench/tokens.py` holds the references). What varies is charged
apart: a string a user controls (content, title, session id) by `estimate_tokens` of its
JSON-escaped text; a number by its digits; a date (canonical UTC, our own) and a role (one
of four words) by their measured largest count.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from .tokens import estimate_tokens

__all__ = (
    "entry_cost",
    "envelope_cost",
    "header_cost",
    "pointer_cost",
    "result_cost",
    "text_cost",
)

ENVELOPE = 27  # success, mode (any of the three), tokens, sessions, omitted, count, best
HEADER = 17  # session_id, title, date, messages
ENTRY = 12  # offset, role, content
ENTRY_DATE = 3  # `,"date":` in an entry
FLAG = 4  # `,"near":true` or `,"cut":true`
POINTER = 3  # `[`, quotes, comma, `]`
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
    return ENVELOPE + _number(data["tokens"]) + _number(data["omitted"]["count"])


def header_cost(session: dict[str, Any]) -> int:
    """A session's header; its messages are priced apart (`entry_cost`)."""
    return HEADER + text_cost(session["session_id"]) + text_cost(session["title"]) + DATE


def entry_cost(message: dict[str, Any]) -> int:
    cost = ENTRY + _number(message["offset"]) + ROLE + text_cost(message["content"])
    if "date" in message:
        cost += ENTRY_DATE + DATE
    return cost + FLAG * (bool(message.get("near")) + bool(message.get("cut")))


def pointer_cost(pointer: list[Any]) -> int:
    session_id, offset = pointer
    return POINTER + text_cost(session_id) + _number(offset)


@functools.lru_cache(maxsize=512)
def text_cost(value: str) -> int:
    """A string as the result writes it (escaped), by the conservative estimate. Cached:
    get_context prices the same contents, titles and ids again and again (a message whole,
    then its cuts; each header), and the estimate reads every word."""
    return estimate_tokens(json.dumps(value, ensure_ascii=False)[1:-1])


def _number(value: int) -> int:
    """Digits: one token per three in cl100k_base and o200k_base, per two at most in
    claude-legacy (measured up to seven digits)."""
    return (len(str(value)) + 1) // 2
