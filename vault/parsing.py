"""The session file parser: `parse`/`loads`/`load`, the block scanner, torn tails.

The frontmatter is read by vault/frontmatter_reader.py; this module scans the body for
message blocks as vault/rendering.py writes them (and as people type them by hand).
A block ends only at the first line equal to its own end marker (a hand-typed block
without an id also at a bare `<!-- /cam:msg -->`), and its content comes back byte for
byte: the one `\\n` the renderer adds before the end marker is stripped.

A start marker we wrote that is never closed, with no whole block of ours after it, is a
torn tail (a crash mid-append, never acknowledged): reported as `torn_offset`, not as an
error. Anything else unclosed is a malformed file.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MalformedSessionFile
from .frontmatter_reader import session_from, split_frontmatter
from .message_views import calls_view, has_views, thinking_view
from .records import MESSAGE_ID, ROLES, TIMESTAMP, Message, ParsedSession, SessionFile
from .rendering import END_PREFIX, HEAD_PREFIX, MARKER_TAIL, META, START, header_line, short_hash

__all__ = ("load", "loads", "parse")

_ATTR = re.compile(rb"([a-z0-9_]+)=(\S+)")
# A start marker line as the renderer writes it, read with one match on the decoded line.
# A value is a run of characters other than ASCII blanks, as `_ATTR`'s bytes `\S` is, so
# this reads exactly what `_Parser._attrs` would; any other line goes through `_attrs`.
_NB = r"[^ \t\n\r\f\v]+"
_OUR_START = re.compile(
    rf"<!-- cam:msg id=({_NB}) role=({_NB}) ts=({_NB}) bytes=({_NB}) sha256=({_NB}) -->\r*"
)
_END_NEEDLE = b"\n" + END_PREFIX + b" id="
# How the views of message_views begin: the thinking view, and every line of the call view.
_THINKING_HEAD = b"> **Thinking**"
_CALL_HEAD = b"> - "


def load(path: Path) -> SessionFile:
    """Read and parse a session file from disk."""
    return parse(path.read_bytes(), path).session


def loads(data: bytes | str, path: Path | None = None) -> SessionFile:
    """Parse a session file's bytes (or text); raises `MalformedSessionFile`."""
    return parse(data, path).session


def parse(data: bytes | str, path: Path | None = None) -> ParsedSession:
    """Parse with byte positions; see `ParsedSession`."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return _Parser(data, path).run()


class _Parser:
    def __init__(self, data: bytes, path: Path | None) -> None:
        self.data = data
        self.path = path
        self._line_pos = 0
        self._line_no = 1

    def fail(self, offset: int, reason: str) -> MalformedSessionFile:
        return MalformedSessionFile(self.path, self.line_at(offset), reason)

    def run(self) -> ParsedSession:
        fm, body_offset = split_frontmatter(self.data, self.path)
        messages: list[Message] = []
        starts: list[int] = []
        ends: list[int] = []
        torn: int | None = None
        seen: dict[str, int] = {}
        ctx = _Context(fm["id"], fm["created"])
        data = self.data
        for start, end, nl, attrs in self._blocks(body_offset):
            if end < 0:
                torn = self._block_lead(start)
                break
            message = self._message(start, end, nl, attrs, ctx)
            if message.id in seen:
                raise self.fail(
                    start, f"duplicate message id {message.id} (first at line {seen[message.id]})"
                )
            seen[message.id] = message.line
            messages.append(message)
            # _block_lead, inlined: this loop runs once per message of every file.
            lead = start >= 2 and data[start - 1] == 0x0A and data[start - 2] == 0x0A
            starts.append(start - 1 if lead else start)
            ends.append(end)
        session = session_from(fm, tuple(messages))
        return ParsedSession(session, body_offset, torn, tuple(starts), tuple(ends))

    def line_at(self, offset: int) -> int:
        """1-based line of a byte offset; offsets are asked in increasing order."""
        if offset < self._line_pos:
            self._line_pos, self._line_no = 0, 1
        self._line_no += self.data.count(b"\n", self._line_pos, offset)
        self._line_pos = offset
        return self._line_no

    # -- the block scanner

    def _blocks(self, pos: int) -> Iterator[tuple[int, int, int, dict[str, str]]]:
        """Yield (start, end, nl, attrs) per block; a torn tail is yielded as end == -1."""
        data = self.data
        while True:
            start = data.find(START, pos)
            if start < 0 or (start > 0 and data[start - 1] != 0x0A):
                start = self._next_start(pos)
            if start < 0:
                return
            nl = data.find(b"\n", start)
            if nl < 0:
                if self._ours(data[start:], complete=False):
                    yield start, -1, -1, {}
                    return
                raise self.fail(start, "message start marker is cut off at the end of the file")
            fast = _OUR_START.fullmatch(data[start:nl].decode("utf-8", "replace"))
            if fast is not None:
                mid, role, ts, size, digest = fast.groups()
                attrs = {"id": mid, "role": role, "ts": ts, "bytes": size, "sha256": digest}
                end = self._find_line(_END_NEEDLE + mid.encode("utf-8") + MARKER_TAIL, nl)
                ours = True
            else:
                attrs = self._attrs(start, nl)
                ours = self._ours(data[start:nl], complete=True)
                end = self._find_end(nl, attrs.get("id"), generic=not ours)
            if end < 0:
                if ours and not self._complete_block_after(nl + 1):
                    yield start, -1, -1, attrs
                    return
                raise self.fail(start, "message block has no end marker")
            yield start, end, nl, attrs
            pos = end

    def _next_start(self, pos: int) -> int:
        data = self.data
        while True:
            i = data.find(START, pos)
            if i < 0:
                return self._partial_start(pos)
            if i == 0 or data[i - 1] == 0x0A:
                return i
            pos = i + 1

    def _partial_start(self, pos: int) -> int:
        """A start marker cut off at the very end of the file (a crash mid-write)."""
        data = self.data
        cut = max(data.rfind(b"\n", pos) + 1, pos)
        tail = data[cut:]
        if len(tail) >= 4 and START.startswith(tail):
            return cut
        return -1

    @staticmethod
    def _ours(line: bytes, *, complete: bool) -> bool:
        """Did we write this start line (so an unclosed block is a torn, unacked tail)?

        Our renderer always writes `id=` first and `sha256=` last; a block typed by hand
        without them is never taken for a torn tail.
        """
        if not complete:
            return line.startswith(b"<!-- cam:msg id=") or START.startswith(line)
        return line.startswith(b"<!-- cam:msg id=") and b" sha256=" in line

    def _complete_block_after(self, pos: int) -> bool:
        """Is there a whole block written by us after `pos` (then nothing before is torn)?"""
        data = self.data
        while True:
            start = self._next_start(pos)
            if start < 0:
                return False
            nl = data.find(b"\n", start)
            if nl < 0:
                return False
            line = data[start:nl].rstrip(b"\r")
            if self._ours(line, complete=True):
                m = re.search(rb" id=(\S+)", line)
                if (
                    m
                    and self._find_end(nl, m.group(1).decode("utf-8", "replace"), generic=False)
                    >= 0
                ):
                    return True
            pos = nl + 1

    def _find_end(self, nl: int, mid: str | None, *, generic: bool) -> int:
        """Offset just past the block's end marker line, or -1.

        Args:
            nl: offset of the newline that ends the start marker line.
            mid: the block's id; its own end marker closes it.
            generic: also accept the bare `<!-- /cam:msg -->` (blocks typed by hand).
        """
        needles = []
        if mid:
            # Not `rendering.end_marker`: a hand-typed id may hold non-ASCII text (the
            # block is then malformed, reported as such by `_message`).
            needles.append(_END_NEEDLE + mid.encode("utf-8") + MARKER_TAIL)
        if generic or not mid:
            needles.append(b"\n" + END_PREFIX + MARKER_TAIL)
        found = [e for e in (self._find_line(needle, nl) for needle in needles) if e >= 0]
        return min(found) if found else -1

    def _find_line(self, needle: bytes, cursor: int) -> int:
        data = self.data
        while True:
            i = data.find(needle, cursor)
            if i < 0:
                return -1
            after = i + len(needle)
            if after == len(data) or data[after] == 0x0A:
                return min(after + 1, len(data))
            if data[after] == 0x0D and (after + 1 == len(data) or data[after + 1] == 0x0A):
                return min(after + 2, len(data))
            cursor = i + 1

    def _attrs(self, start: int, nl: int) -> dict[str, str]:
        line = self.data[start:nl].rstrip(b"\r")
        if not line.endswith(MARKER_TAIL):
            raise self.fail(start, "message start marker does not end with '-->'")
        inner = line[len(START) : -len(MARKER_TAIL)]
        attrs: dict[str, str] = {}
        for m in _ATTR.finditer(inner):
            attrs[m.group(1).decode("ascii", "replace")] = m.group(2).decode("utf-8", "replace")
        leftover = _ATTR.sub(b"", inner).strip()
        if leftover:
            raise self.fail(start, f"unreadable message marker attribute {leftover[:40]!r}")
        return attrs

    def _block_lead(self, start: int) -> int:
        """The offset of the blank line the renderer puts before a block, if it is there."""
        if start >= 2 and self.data[start - 1] == 0x0A and self.data[start - 2] == 0x0A:
            return start - 1
        return start

    # -- one block

    def _message(
        self, start: int, end: int, nl: int, attrs: dict[str, str], ctx: _Context
    ) -> Message:
        data = self.data
        role = attrs.get("role", "")
        if role not in ROLES:
            raise self.fail(start, f"message role must be one of {', '.join(ROLES)}, not {role!r}")
        mid = attrs.get("id")
        if mid is None:
            digest = hashlib.sha256(f"{ctx.session_id}\0{ctx.unnamed}".encode()).hexdigest()
            mid = f"h-{digest[:20]}"
            ctx.unnamed += 1
        elif not MESSAGE_ID.match(mid):
            raise self.fail(start, f"invalid message id {mid!r}")
        ts = attrs.get("ts") or ctx.last_ts
        cursor = nl + 1
        metadata: dict[str, Any] = {}
        line_end = data.find(b"\n", cursor)
        if line_end >= 0 and data.startswith(META, cursor):
            raw = data[cursor:line_end].rstrip(b"\r")
            if not raw.endswith(MARKER_TAIL):
                raise self.fail(cursor, "metadata line does not end with '-->'")
            try:
                metadata = json.loads(raw[len(META) : -len(MARKER_TAIL)])
            except ValueError as exc:
                raise self.fail(cursor, f"metadata is not valid JSON: {exc}") from exc
            if not isinstance(metadata, dict):
                raise self.fail(cursor, "metadata is not a JSON object")
            cursor = line_end + 1
            line_end = data.find(b"\n", cursor)
        if TIMESTAMP.match(ts):
            header = HEAD_PREFIX[role] + f"{ts[:10]} {ts[11:19]} UTC".encode("ascii")
        else:
            header = header_line(role, ts).encode("utf-8")
        after = cursor + len(header)
        if (
            line_end >= 0
            and data.startswith(header, cursor)
            and (after == line_end or not data[after:line_end].rstrip(b"\r"))
        ):
            cursor = line_end + 1
        end_line_start = data.rfind(b"\n", 0, end - 1) + 1
        raw_content = data[cursor : max(cursor, end_line_start - 1)]
        if metadata and has_views(metadata):
            raw_content = _without_views(raw_content, metadata)
        try:
            content = raw_content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(cursor + exc.start, "message content is not valid UTF-8") from exc
        edited = attrs.get("bytes") != str(len(raw_content)) or attrs.get("sha256") != short_hash(
            raw_content
        )
        ctx.last_ts = ts
        return Message(mid, role, content, ts, metadata, edited, self.line_at(start))


def _without_views(raw: bytes, metadata: dict[str, Any]) -> bytes:
    """The content of a block's text once the views the renderer wrote around it
    (`rendering.wrap_views`) are taken off. A view that is not exactly what the metadata
    gives (edited by hand) stays, as content. A file converted to CRLF still matches."""
    # Views are built only where the text looks like it holds them (not in old files).
    thinking = calls = b""
    if raw.startswith(_THINKING_HEAD):
        thinking = thinking_view(metadata).encode("utf-8")
    if raw.startswith(_CALL_HEAD, raw.rfind(b"\n") + 1):  # the view's last line
        calls = calls_view(metadata).encode("utf-8")
    if not thinking and not calls:
        return raw
    content, matched = _unwrap(raw, thinking, calls, b"\n\n")
    if matched or not raw.endswith(b"\r"):
        return content
    # CRLF: the renderer's `\n` before the end marker became `\r\n`; its `\r` stays, as it
    # does for every message of such a file.
    thinking, calls = thinking.replace(b"\n", b"\r\n"), calls.replace(b"\n", b"\r\n")
    content, matched = _unwrap(raw[:-1], thinking, calls, b"\r\n\r\n")
    return content + b"\r" if matched else raw


def _unwrap(raw: bytes, thinking: bytes, calls: bytes, gap: bytes) -> tuple[bytes, bool]:
    """Take `thinking` + `gap` off the front and `gap` + `calls` off the end (the whole of
    `raw` when the content is empty); also say whether either was there."""
    matched = False
    if thinking:
        if raw == thinking:
            raw, matched = b"", True
        elif raw.startswith(thinking + gap):
            raw, matched = raw[len(thinking) + len(gap) :], True
    if calls:
        if raw == calls:
            raw, matched = b"", True
        elif raw.endswith(gap + calls):
            raw, matched = raw[: -len(calls) - len(gap)], True
    return raw, matched


@dataclass
class _Context:
    session_id: str
    last_ts: str
    unnamed: int = 0
