"""get_context's transcript (indexer/context.py `render`) read back into the dict of
`Context.to_dict()`: what the text holds, for bench.locomo to score and the tests to price
and compare.

Messages whose contents hold lines that look like a message's or a session's first line
are not read back faithfully; the tests' contents do not."""

from __future__ import annotations

import re
from typing import Any

from indexer.context import HEAD as MARKER_HEAD
from indexer.context import MARKER, SEP

__all__ = ("parse",)

_SEP = re.escape(SEP)
HEAD = re.compile(rf"mode: (\w+){_SEP}tokens: (\d+)")
TAIL = re.compile(rf"omitted: (\d+)(?:{_SEP}best:(.*))?")
SESSION = re.compile(rf"## session (\S+){_SEP}(\S+){_SEP}(.*)")
MESSAGE = re.compile(r"\[(\d+)\] (user|assistant|system|tool)((?:, [^,:]+)*): (.*)")
POINTER = re.compile(r" (\S+) \[(\d+)\]")


def _marker(template: str) -> str:
    """A marker template of indexer/context.py as a pattern: any count in place of {n}."""
    return re.escape(template).replace(re.escape("{n}"), r"\d+")


BEFORE = re.compile(_marker(MARKER_HEAD) + "\n")  # an excerpt's start (`cut`)
CUT = re.compile(_marker(MARKER) + "$")  # a shortened message's end


def parse(text: str) -> dict[str, Any]:
    first, *body, last = text.split("\n")
    head, tail = HEAD.fullmatch(first), TAIL.fullmatch(last)
    assert head and tail, (first, last)
    sessions: list[dict[str, Any]] = []
    message: dict[str, Any] | None = None
    for line in body:
        if found := SESSION.fullmatch(line):
            sid, date, title = found.groups()
            sessions.append({"session_id": sid, "title": title, "date": date, "messages": []})
            message = None
        elif (found := MESSAGE.fullmatch(line)) and sessions:
            offset, role, tags, content = found.groups()
            message = {"offset": int(offset), "role": role}
            for tag in filter(None, tags.split(", ")):
                if tag == "near":
                    message["near"] = True
                else:
                    message["date"] = tag
            message["content"] = content
            sessions[-1]["messages"].append(message)
        else:
            assert message is not None, line
            message["content"] += "\n" + line
    for m in (m for s in sessions for m in s["messages"]):
        if CUT.search(m["content"]) or BEFORE.match(m["content"]):
            m["cut"] = True
    best = [[sid, int(offset)] for sid, offset in POINTER.findall(tail.group(2) or "")]
    return {
        "mode": head.group(1),
        "tokens": int(head.group(2)),
        "sessions": sessions,
        "omitted": {"count": int(tail.group(1)), "best": best},
    }
