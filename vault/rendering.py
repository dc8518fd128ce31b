"""The session file renderer: `dumps`, the frontmatter and title, one message block.

A block is a start marker line (id, role, time, size and hash of the content), an
optional `cam:meta` line of JSON metadata, a `### Role · time` header line, the content
verbatim (with the views of its thinking and tool calls around it, derived from the
metadata: vault/message_views.py), then the block's own end marker line::

    <!-- cam:msg id=m01J… role=user ts=2025-01-15T14:30:22.123Z bytes=5 sha256=… -->
    ### User · 2025-01-15 14:30:22 UTC
    hello
    <!-- /cam:msg id=m01J… -->

The renderer adds exactly one `\\n` before the end marker (the parser strips exactly
one), and refuses content that holds the block's own end marker line. The marker
vocabulary is defined here and read back by vault/parsing.py.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import InvalidInput
from .message_views import calls_view, has_views, thinking_view
from .records import MESSAGE_ID, ROLES, TIMESTAMP, Message, SessionFile
from .yaml_io import dump_yaml

__all__ = (
    "END_PREFIX",
    "HEAD_PREFIX",
    "MARKER_TAIL",
    "META",
    "START",
    "dumps",
    "end_marker",
    "header_line",
    "render_frontmatter",
    "render_head",
    "render_message",
    "short_hash",
    "title_line",
    "wrap_views",
)

START = b"<!-- cam:msg "
META = b"<!-- cam:meta "
END_PREFIX = b"<!-- /cam:msg"
MARKER_TAIL = b" -->"
# The header line's bytes up to the time, per role.
HEAD_PREFIX = {role: f"### {role.capitalize()} · ".encode() for role in ROLES}
_HASH_LEN = 16


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


def render_message(message: Message) -> str:
    """Render one message block, as appended to a file (it starts with a blank line)."""
    if message.role not in ROLES:
        raise InvalidInput(f"Invalid role: {message.role!r}", field="role")
    if not MESSAGE_ID.match(message.id):
        raise InvalidInput(f"Invalid message id: {message.id!r}", field="id")
    content = message.content.encode("utf-8")
    end = _end_marker_bytes(message.id)
    if end in content and _closes_early(content, end):
        raise InvalidInput("Content holds this message's own end marker line", field="content")
    parts = [
        f"\n<!-- cam:msg id={message.id} role={message.role} ts={message.created_at} "
        f"bytes={len(content)} sha256={short_hash(content)} -->\n"
    ]
    body = message.content
    if message.metadata:
        try:
            meta = json.dumps(message.metadata, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"'metadata' cannot be stored as JSON: {exc}", field="metadata"
            ) from exc
        parts.append(f"<!-- cam:meta {_escape_comment(meta)} -->\n")
        if has_views(message.metadata):
            # Built from the metadata as the parser will read it back.
            body = wrap_views(body, json.loads(meta))
    parts.append(header_line(message.role, message.created_at) + "\n")
    return "".join(parts) + body + "\n" + end.decode("ascii") + "\n"


def wrap_views(content: str, metadata: dict[str, Any]) -> str:
    """The content with the views of its metadata around it: the thinking before it, the
    tool calls after it, each non-empty part apart from the next by a blank line."""
    parts = (thinking_view(metadata), content, calls_view(metadata))
    return "\n\n".join(part for part in parts if part)


def end_marker(message_id: str) -> str:
    return _end_marker_bytes(message_id).decode("ascii")


def header_line(role: str, ts: str) -> str:
    """The `### Role · time` line under the start marker (no newline)."""
    # TIMESTAMP puts the only `T` of the first 19 characters at index 10.
    shown = f"{ts[:10]} {ts[11:19]} UTC" if TIMESTAMP.match(ts) else ts
    return f"### {role.capitalize()} · {shown}"


def short_hash(data: bytes) -> str:
    """The `sha256=` value of a start marker: the content's digest, shortened."""
    return hashlib.sha256(data).hexdigest()[:_HASH_LEN]


def _closes_early(content: bytes, end: bytes) -> bool:
    """Does a line of `content` read as the end marker `end`? The parser also takes the
    marker followed by `\r` (a file converted to CRLF), so that line is refused too."""
    lines = content.split(b"\n")
    return end in lines or end + b"\r" in lines


def _end_marker_bytes(message_id: str) -> bytes:
    return b"<!-- /cam:msg id=" + message_id.encode("ascii") + b" -->"


def _escape_comment(text: str) -> str:
    # JSON never needs a raw '>' and an HTML comment must not hold '-->'.
    return text.replace(">", "\\u003e")


def _one_line(text: str) -> str:
    return " ".join(text.split())
