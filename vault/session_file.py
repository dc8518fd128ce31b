"""The session file format: `SessionFile` and `Message` values, `loads`/`dumps`.

A session file is YAML frontmatter followed by message blocks (see docs/format.md)::

    ---
    id: session-20250115-143022-auth
    ...
    ---

    # Auth

    <!-- cam:msg id=m01J… role=user ts=2025-01-15T14:30:22.123Z bytes=5 sha256=… -->
    ### User · 2025-01-15 14:30:22 UTC
    hello
    <!-- /cam:msg id=m01J… -->

The content between the header line and the end marker comes back byte for byte: the
renderer adds exactly one `\\n` before the end marker and the parser strips exactly one.
A block ends only at the first line equal to its own end marker, and the renderer refuses
content that holds that line, so no content can close a block early.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import InvalidInput, MalformedSessionFile
from .yaml_io import YamlError, dump_yaml, load_yaml

__all__ = (
    "KEY_FIELDS",
    "MAX_FRONTMATTER_BYTES",
    "ROLES",
    "STATUSES",
    "Message",
    "ParsedSession",
    "SessionFile",
    "dumps",
    "format_ts",
    "load",
    "loads",
    "parse",
    "render_frontmatter",
    "render_head",
    "render_message",
    "utc_now",
)

ROLES = ("user", "assistant", "system", "tool")
STATUSES = ("active", "idle", "compacted", "archived")
KEY_FIELDS = ("agent_id", "channel", "account_id", "peer_kind", "peer_id")
SOURCE_FIELDS = ("source", "source_id", "source_path", "imported_at")
MAX_FRONTMATTER_BYTES = 64 * 1024

_BOM = b"\xef\xbb\xbf"
_START = b"<!-- cam:msg "
_META = b"<!-- cam:meta "
_END_PREFIX = b"<!-- /cam:msg"
_MARKER_TAIL = b" -->"
_ATTR = re.compile(rb"([a-z0-9_]+)=(\S+)")
# A start marker line as the renderer writes it, read with one match on the decoded line.
# A value is a run of characters other than ASCII blanks, as `_ATTR`'s bytes `\S` is, so
# this reads exactly what `_Parser._attrs` would; any other line goes through `_attrs`.
_NB = r"[^ \t\n\r\f\v]+"
_OUR_START = re.compile(
    rf"<!-- cam:msg id=({_NB}) role=({_NB}) ts=({_NB}) bytes=({_NB}) sha256=({_NB}) -->\r*"
)
_END_NEEDLE = b"\n" + _END_PREFIX + b" id="
_HEAD_PREFIX = {role: f"### {role.capitalize()} · ".encode() for role in ROLES}
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$")
_HASH_LEN = 16


@dataclass(frozen=True)
class Message:
    """One message: verbatim content plus identity and metadata.

    `edited` and `line` are filled by the parser: `edited` is true when the text no longer
    matches the size and hash recorded when it was stored (a hand edit), or the block was
    written by hand without them; `line` is the 1-based line of its start marker.
    """

    id: str
    role: str
    content: str
    created_at: str
    metadata: dict[str, Any] = field(default_factory=dict)
    edited: bool = False
    line: int = field(default=0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "content": self.content,
            "created_at": self.created_at,
            "metadata": self.metadata,
            "edited": self.edited,
        }


@dataclass(frozen=True)
class SessionFile:
    """A session: its frontmatter fields and its messages in file order."""

    id: str
    created: str
    title: str = ""
    topic: str = ""
    updated: str | None = None
    status: str = "active"
    agent_id: str | None = None
    channel: str | None = None
    account_id: str | None = None
    peer_kind: str | None = None
    peer_id: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    source_id: str | None = None
    source_path: str | None = None
    imported_at: str | None = None
    truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    messages: tuple[Message, ...] = ()

    def frontmatter(self) -> dict[str, Any]:
        """The frontmatter mapping in its canonical key order, empty optional keys left out."""
        data: dict[str, Any] = {"id": self.id, "title": self.title, "topic": self.topic}
        data["created"] = self.created
        if self.updated is not None:
            data["updated"] = self.updated
        data["status"] = self.status
        for key in KEY_FIELDS:
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        data["tags"] = list(self.tags)
        for key in SOURCE_FIELDS:
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.truncated:
            data["truncated"] = True
        data["metadata"] = dict(self.metadata)
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    def to_dict(self) -> dict[str, Any]:
        data = self.frontmatter()
        data["messages"] = [m.to_dict() for m in self.messages]
        return data


@dataclass(frozen=True)
class ParsedSession:
    """A parse with the byte positions the write path needs.

    `body_offset` is where the body starts (after the closing `---` line); `torn_offset`
    is where a torn, never-acknowledged tail starts (None when the file ends cleanly);
    `message_ends[i]` is the byte offset just past message i's end marker line, and
    `message_starts[i]` the offset of the blank line before its start marker.
    """

    session: SessionFile
    body_offset: int
    torn_offset: int | None
    message_starts: tuple[int, ...]
    message_ends: tuple[int, ...]


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a `Z`, as stored in files."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------- render


def dumps(session: SessionFile) -> str:
    """Render a whole session file."""
    return render_head(session) + "".join(render_message(m) for m in session.messages)


def render_head(session: SessionFile) -> str:
    """The frontmatter and the title line: everything before the first message block."""
    return render_frontmatter(session) + title_line(session)


def render_frontmatter(session: SessionFile) -> str:
    return "---\n" + dump_yaml(session.frontmatter()) + "\n---\n"


def title_line(session: SessionFile) -> str:
    """The visible `# Title` line under the frontmatter ('' when there is no title)."""
    title = _one_line(session.title)
    return f"\n# {title}\n" if title else ""


def check_timestamp(value: object, field: str) -> str:
    """An ISO 8601 UTC time such as `2025-01-15T14:30:22.123Z`."""
    if not isinstance(value, str) or not _TS.match(value):
        raise InvalidInput(
            f"'{field}' must be an ISO 8601 UTC time like 2025-01-15T14:30:22.123Z", field=field
        )
    return value


def render_message(message: Message) -> str:
    """Render one message block, as appended to a file (it starts with a blank line)."""
    if message.role not in ROLES:
        raise InvalidInput(f"Invalid role: {message.role!r}", field="role")
    if not _MESSAGE_ID.match(message.id):
        raise InvalidInput(f"Invalid message id: {message.id!r}", field="id")
    content = message.content.encode("utf-8")
    end = _end_marker_bytes(message.id)
    if end in content and _closes_early(content, end):
        raise InvalidInput("Content holds this message's own end marker line", field="content")
    parts = [
        f"\n<!-- cam:msg id={message.id} role={message.role} ts={message.created_at} "
        f"bytes={len(content)} sha256={_short_hash(content)} -->\n"
    ]
    if message.metadata:
        try:
            meta = json.dumps(message.metadata, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"'metadata' cannot be stored as JSON: {exc}", field="metadata"
            ) from exc
        parts.append(f"<!-- cam:meta {_escape_comment(meta)} -->\n")
    parts.append(_header(message.role, message.created_at) + "\n")
    return "".join(parts) + message.content + "\n" + end.decode("ascii") + "\n"


def _closes_early(content: bytes, end: bytes) -> bool:
    """Does a line of `content` read as the end marker `end`? The parser also takes the
    marker followed by `\r` (a file converted to CRLF), so that line is refused too."""
    lines = content.split(b"\n")
    return end in lines or end + b"\r" in lines


def end_marker(message_id: str) -> str:
    return _end_marker_bytes(message_id).decode("ascii")


def _end_marker_bytes(message_id: str) -> bytes:
    return b"<!-- /cam:msg id=" + message_id.encode("ascii") + b" -->"


def _header(role: str, ts: str) -> str:
    # _TS puts the only `T` of the first 19 characters at index 10.
    shown = f"{ts[:10]} {ts[11:19]} UTC" if _TS.match(ts) else ts
    return f"### {role.capitalize()} · {shown}"


def _short_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:_HASH_LEN]


def _escape_comment(text: str) -> str:
    # JSON never needs a raw '>' and an HTML comment must not hold '-->'.
    return text.replace(">", "\\u003e")


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------- parse


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


def read_frontmatter(data: bytes, path: Path | None = None) -> dict[str, Any]:
    """Parse only the frontmatter (for cheap id look-ups); raises `MalformedSessionFile`."""
    return _Parser(data, path).frontmatter()[0]


class _Parser:
    def __init__(self, data: bytes, path: Path | None) -> None:
        self.data = data
        self.path = path
        self._line_pos = 0
        self._line_no = 1

    def fail(self, offset: int, reason: str) -> MalformedSessionFile:
        return MalformedSessionFile(self.path, self.line_at(offset), reason)

    def run(self) -> ParsedSession:
        fm, body_offset = self.frontmatter()
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
        session = _session_from(fm, tuple(messages))
        return ParsedSession(session, body_offset, torn, tuple(starts), tuple(ends))

    # -- frontmatter

    def frontmatter(self) -> tuple[dict[str, Any], int]:
        data = self.data
        pos = len(_BOM) if data.startswith(_BOM) else 0
        first_end = data.find(b"\n", pos)
        if first_end < 0 or data[pos:first_end].rstrip(b"\r") != b"---":
            raise self.fail(pos, "file does not start with a '---' frontmatter line")
        start = first_end + 1
        limit = min(len(data), start + MAX_FRONTMATTER_BYTES + 8)
        close = -1
        cursor = start
        while cursor <= limit:
            nl = data.find(b"\n", cursor)
            line_end = len(data) if nl < 0 else nl
            if data[cursor:line_end].rstrip(b"\r") == b"---":
                close = cursor
                break
            if nl < 0:
                break
            cursor = nl + 1
        if close < 0:
            if len(data) - start > MAX_FRONTMATTER_BYTES:
                raise self.fail(start, "frontmatter is larger than 64 KB or is never closed")
            raise self.fail(start, "frontmatter is not closed by a '---' line")
        if close - start > MAX_FRONTMATTER_BYTES:
            raise self.fail(start, "frontmatter is larger than 64 KB")
        nl = data.find(b"\n", close)
        body_offset = len(data) if nl < 0 else nl + 1
        try:
            text = data[start:close].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(start + exc.start, "frontmatter is not valid UTF-8") from exc
        try:
            raw = load_yaml(text) if text.strip() else {}
        except YamlError as exc:
            base = self.data.count(b"\n", 0, start)
            raise MalformedSessionFile(self.path, base + exc.line, exc.reason) from exc
        if not isinstance(raw, dict):
            raise self.fail(start, "frontmatter is not a mapping")
        return self._check_frontmatter(raw, start), body_offset

    def _check_frontmatter(self, raw: dict[Any, Any], offset: int) -> dict[str, Any]:
        fm: dict[str, Any] = {}
        for key, value in raw.items():
            if not isinstance(key, str):
                raise self.fail(offset, f"frontmatter key {key!r} is not text")
            fm[key] = value
        sid = fm.get("id")
        if sid is None and self.path is not None:
            sid = self.path.stem
        if not isinstance(sid, str) or not sid.strip():
            raise self.fail(offset, "frontmatter 'id' is missing or not text")
        fm["id"] = sid
        for key in ("title", "topic", "updated", "status", *KEY_FIELDS, *SOURCE_FIELDS):
            value = fm.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise self.fail(offset, f"frontmatter '{key}' must be text")
            fm[key] = str(value)
        created = fm.get("created")
        if created is None:
            created = _created_from_name(self.path)
        if not isinstance(created, str) or not created:
            raise self.fail(offset, "frontmatter 'created' is missing or not text")
        fm["created"] = created
        status = fm.get("status", "active")
        if status not in STATUSES:
            raise self.fail(offset, f"frontmatter 'status' must be one of {', '.join(STATUSES)}")
        fm["status"] = status
        tags = fm.get("tags", [])
        if tags is None:
            tags = []
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list) or not all(isinstance(t, str | int) for t in tags):
            raise self.fail(offset, "frontmatter 'tags' must be a list of text")
        fm["tags"] = tuple(str(t) for t in tags)
        metadata = fm.get("metadata", {})
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise self.fail(offset, "frontmatter 'metadata' must be a mapping")
        fm["metadata"] = metadata
        truncated = fm.get("truncated", False)
        if not isinstance(truncated, bool):
            raise self.fail(offset, "frontmatter 'truncated' must be true or false")
        fm["truncated"] = truncated
        return fm

    # -- body

    def line_at(self, offset: int) -> int:
        """1-based line of a byte offset; offsets are asked in increasing order."""
        if offset < self._line_pos:
            self._line_pos, self._line_no = 0, 1
        self._line_no += self.data.count(b"\n", self._line_pos, offset)
        self._line_pos = offset
        return self._line_no

    def _blocks(self, pos: int) -> Iterator[tuple[int, int, int, dict[str, str]]]:
        """Yield (start, end, nl, attrs) per block; a torn tail is yielded as end == -1."""
        data = self.data
        while True:
            start = data.find(_START, pos)
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
                end = self._find_line(_END_NEEDLE + mid.encode("utf-8") + _MARKER_TAIL, nl)
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
            i = data.find(_START, pos)
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
        if len(tail) >= 4 and _START.startswith(tail):
            return cut
        return -1

    @staticmethod
    def _ours(line: bytes, *, complete: bool) -> bool:
        """Did we write this start line (so an unclosed block is a torn, unacked tail)?

        Our renderer always writes `id=` first and `sha256=` last; a block typed by hand
        without them is never taken for a torn tail.
        """
        if not complete:
            return line.startswith(b"<!-- cam:msg id=") or _START.startswith(line)
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
            # Not `_end_marker_bytes`: a hand-typed id may hold non-ASCII text (the block is
            # then malformed, reported as such by `_message`).
            needles.append(_END_NEEDLE + mid.encode("utf-8") + _MARKER_TAIL)
        if generic or not mid:
            needles.append(b"\n" + _END_PREFIX + _MARKER_TAIL)
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
        if not line.endswith(_MARKER_TAIL):
            raise self.fail(start, "message start marker does not end with '-->'")
        inner = line[len(_START) : -len(_MARKER_TAIL)]
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
        elif not _MESSAGE_ID.match(mid):
            raise self.fail(start, f"invalid message id {mid!r}")
        ts = attrs.get("ts") or ctx.last_ts
        cursor = nl + 1
        metadata: dict[str, Any] = {}
        line_end = data.find(b"\n", cursor)
        if line_end >= 0 and data.startswith(_META, cursor):
            raw = data[cursor:line_end].rstrip(b"\r")
            if not raw.endswith(_MARKER_TAIL):
                raise self.fail(cursor, "metadata line does not end with '-->'")
            try:
                metadata = json.loads(raw[len(_META) : -len(_MARKER_TAIL)])
            except ValueError as exc:
                raise self.fail(cursor, f"metadata is not valid JSON: {exc}") from exc
            if not isinstance(metadata, dict):
                raise self.fail(cursor, "metadata is not a JSON object")
            cursor = line_end + 1
            line_end = data.find(b"\n", cursor)
        if _TS.match(ts):
            header = _HEAD_PREFIX[role] + f"{ts[:10]} {ts[11:19]} UTC".encode("ascii")
        else:
            header = _header(role, ts).encode("utf-8")
        after = cursor + len(header)
        if (
            line_end >= 0
            and data.startswith(header, cursor)
            and (after == line_end or not data[after:line_end].rstrip(b"\r"))
        ):
            cursor = line_end + 1
        end_line_start = data.rfind(b"\n", 0, end - 1) + 1
        raw_content = data[cursor : max(cursor, end_line_start - 1)]
        try:
            content = raw_content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(cursor + exc.start, "message content is not valid UTF-8") from exc
        edited = attrs.get("bytes") != str(len(raw_content)) or attrs.get("sha256") != _short_hash(
            raw_content
        )
        ctx.last_ts = ts
        return Message(mid, role, content, ts, metadata, edited, self.line_at(start))


@dataclass
class _Context:
    session_id: str
    last_ts: str
    unnamed: int = 0


def _created_from_name(path: Path | None) -> str | None:
    if path is None:
        return None
    m = re.match(r"session-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})", path.name)
    if not m:
        return None
    y, mo, d, h, mi, s = m.groups()
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}.000Z"


def _session_from(fm: Mapping[str, Any], messages: tuple[Message, ...]) -> SessionFile:
    known = {
        "id",
        "created",
        "title",
        "topic",
        "updated",
        "status",
        "tags",
        "metadata",
        "truncated",
        *KEY_FIELDS,
        *SOURCE_FIELDS,
    }
    extra = {k: v for k, v in fm.items() if k not in known}
    values = {k: fm[k] for k in known if k in fm}
    values.setdefault("title", "")
    values.setdefault("topic", "")
    return SessionFile(extra=extra, messages=messages, **values)


def with_messages(session: SessionFile, messages: tuple[Message, ...]) -> SessionFile:
    return replace(session, messages=messages)
