"""Secrets already in session files (written before redaction, or typed by hand): where
they are (file, line, kind; never the value), and the file's bytes with them redacted.

A file is read as the vault reads it, so a scan finds exactly what `--fix` will redact:
each message (content and metadata) and the frontmatter's title, tags and metadata. A
file that does not parse is scanned as plain text (it is reported, it cannot be fixed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import MalformedSessionFile
from ..records import ParsedSession
from ..session_file import parse, render_frontmatter, render_message, title_line
from .redactor import Redactions, Redactor

__all__ = ("Found", "redacted_file", "scan_bytes")


@dataclass(frozen=True)
class Found:
    path: Path
    line: int
    kind: str
    where: str
    """`frontmatter`, `message <id>`, or `file` for a file that does not parse."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind} ({self.where})"


def scan_bytes(data: bytes, path: Path, redactor: Redactor) -> tuple[list[Found], bool]:
    """Secrets in one session file's bytes, in file order; and whether the file parsed."""
    text = data.decode("utf-8", "replace")
    try:
        parsed = parse(data, path)
    except MalformedSessionFile:
        return [
            Found(path, text.count("\n", 0, f.start) + 1, f.kind, "file")
            for f in redactor.findings(text)
        ], False
    found: list[Found] = []
    session = parsed.session
    head_end = len(data[: parsed.body_offset].decode("utf-8", "replace"))
    for value, kind in _values(
        redactor, [session.title, list(session.tags), session.metadata, session.extra]
    ):
        found.append(Found(path, _line(text, value, 0, head_end), kind, "frontmatter"))
    offsets = _char_offsets(data, parsed)
    for i, message in enumerate(session.messages):
        start, end = offsets[i]
        for value, kind in _values(redactor, [message.content, message.metadata]):
            found.append(Found(path, _line(text, value, start, end), kind, f"message {message.id}"))
    found.sort(key=lambda f: f.line)
    return found, True


def redacted_file(
    parsed: ParsedSession, data: bytes, redactor: Redactor, counts: Redactions
) -> bytes | None:
    """The file with every secret redacted (None when it holds none). Changed messages
    are written again as the vault writes a block (so they are not marked edited); the
    rest of the file, notes between blocks included, is kept byte for byte."""
    old = parsed.session
    new = redactor.session(old, counts)
    if counts.total == 0:
        return None
    end = parsed.torn_offset if parsed.torn_offset is not None else len(data)
    pieces: list[bytes] = []
    cursor = parsed.body_offset
    if (new.title, new.tags, new.metadata, new.extra) != (
        old.title,
        old.tags,
        old.metadata,
        old.extra,
    ):
        pieces.append(render_frontmatter(replace(new, messages=())).encode("utf-8"))
        old_title = title_line(old).encode("utf-8")
        if old_title and data.startswith(old_title, cursor):
            pieces.append(title_line(new).encode("utf-8"))
            cursor += len(old_title)
    else:
        pieces.append(data[:cursor])
    for i, (before, after) in enumerate(zip(old.messages, new.messages, strict=True)):
        if before is after:
            continue
        start, stop = parsed.message_starts[i], parsed.message_ends[i]
        pieces.append(data[cursor:start])
        block = render_message(replace(after, edited=False)).encode("utf-8")
        pieces.append(block if data[start : start + 1] == b"\n" else block[1:])
        cursor = stop
    pieces.append(data[cursor:end])
    return b"".join(pieces)


def _values(redactor: Redactor, items: list[Any]) -> Iterator[tuple[str, str]]:
    """(secret value, kind) for every secret the redactor would replace in `items`."""
    for item in items:
        yield from _walk(redactor, item, None)


def _walk(redactor: Redactor, value: Any, key: str | None) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        kind = redactor.key_secret(key, value) if key is not None else None
        if kind is not None and redactor.config.enabled:
            yield value, kind
            return
        for f in redactor.findings(value):
            yield value[f.start : f.end], f.kind
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(redactor, v, str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(redactor, v, None)


def _char_offsets(data: bytes, parsed: ParsedSession) -> list[tuple[int, int]]:
    """Each message block's (start, end) in characters of the decoded file (block
    offsets are at line starts, so each slice decodes on its own)."""
    marks = sorted({*parsed.message_starts, *parsed.message_ends})
    chars: dict[int, int] = {}
    pos_b = pos_c = 0
    for mark in marks:
        pos_c += len(data[pos_b:mark].decode("utf-8", "replace"))
        pos_b = mark
        chars[mark] = pos_c
    return [
        (chars[a], chars[b])
        for a, b in zip(parsed.message_starts, parsed.message_ends, strict=True)
    ]


def _line(text: str, value: str, start: int, end: int) -> int:
    """The line where `value` (as is, or JSON-escaped as in a metadata line) first shows
    between `start` and `end`; the region's first line if it cannot be found."""
    for form in (value, json.dumps(value, ensure_ascii=False)[1:-1]):
        pos = text.find(form, start, end)
        if pos < 0 and ">" in form:
            pos = text.find(form.replace(">", "\\u003e"), start, end)
        if pos >= 0:
            return text.count("\n", 0, pos) + 1
    return text.count("\n", 0, start) + 1
