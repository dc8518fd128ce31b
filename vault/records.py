"""The values a session file holds: `SessionFile`, `Message`, `ParsedSession`.

Also the field names and value rules shared by the renderer (vault/rendering.py) and the
parser (vault/parsing.py, vault/frontmatter_reader.py): roles, statuses, the frontmatter
key order, the shape of message ids and timestamps, and the stored time format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidInput

__all__ = (
    "KEY_FIELDS",
    "MAX_FRONTMATTER_BYTES",
    "MESSAGE_ID",
    "ROLES",
    "SOURCE_FIELDS",
    "STATUSES",
    "TIMESTAMP",
    "Message",
    "ParsedSession",
    "SessionFile",
    "check_timestamp",
    "format_ts",
    "utc_now",
    "with_messages",
)

ROLES = ("user", "assistant", "system", "tool")
STATUSES = ("active", "idle", "compacted", "archived")
KEY_FIELDS = ("agent_id", "channel", "account_id", "peer_kind", "peer_id")
SOURCE_FIELDS = ("source", "source_id", "source_path", "imported_at")
MAX_FRONTMATTER_BYTES = 64 * 1024

# A message id as the renderer accepts it and the parser checks it.
MESSAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# A stored time: ISO 8601 UTC, `Z`-terminated, up to microseconds.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$")


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


def check_timestamp(value: object, field: str) -> str:
    """An ISO 8601 UTC time such as `2025-01-15T14:30:22.123Z`."""
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        raise InvalidInput(
            f"'{field}' must be an ISO 8601 UTC time like 2025-01-15T14:30:22.123Z", field=field
        )
    return value


def with_messages(session: SessionFile, messages: tuple[Message, ...]) -> SessionFile:
    return replace(session, messages=messages)
