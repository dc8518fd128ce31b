"""Changing session files the way a person's editor does (temp file + rename)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ("hand_edit",)

_SKIP = (b"<!--", b"#", b"---", b"```", b"~~~", b">")


def hand_edit(path: Path, token: str) -> None:
    """Add ` token` at the end of a line of message text near the middle of the file and save
    it atomically, as editors do. Marker, heading, fence and frontmatter lines are left
    alone, so the file stays well-formed and only that message's text changes."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    body = _body_start(lines)
    middle = max(body, len(lines) // 2)
    order = list(range(middle, len(lines))) + list(range(middle - 1, body - 1, -1))
    for i in order:
        line = lines[i].rstrip(b"\r")
        if line.strip() and not line.lstrip().startswith(_SKIP):
            lines[i] = (
                lines[i] + b" " + token.encode()
                if line == lines[i]
                else (line + b" " + token.encode() + b"\r")
            )
            break
    else:
        raise ValueError(f"no line of message text in {path}")
    tmp = path.with_name(f".{path.name}.bench-edit.tmp")
    tmp.write_bytes(b"\n".join(lines))
    os.replace(tmp, path)


def _body_start(lines: list[bytes]) -> int:
    """The index of the first line after the frontmatter and the first message marker."""
    seen = 0
    for i, line in enumerate(lines):
        if line.rstrip(b"\r") == b"---":
            seen += 1
        if seen >= 2 and line.startswith(b"<!-- cam:msg "):
            return i + 1
    return len(lines) // 2
