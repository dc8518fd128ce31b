"""Rows of the SQLite mirror as Python values: a file's record, its verified prefix, and
the values a session and its messages are stored as (shared by the mirror and its dump)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from vault import FileState, Message, SessionFile

from .records import SessionRecord, normalize_ts
from .schema import KEY_FIELDS, MESSAGE_COLUMNS, SESSION_COLUMNS

__all__ = (
    "MESSAGE_INSERT",
    "SESSION_INSERT",
    "FileRow",
    "Prefix",
    "dumps_json",
    "message_values",
    "session_record",
    "session_updated_at",
    "session_values",
)


def _insert(table: str, columns: tuple[str, ...]) -> str:
    """An INSERT of every column, with named parameters (rows are dicts by column)."""
    names = ", ".join(columns)
    return f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + c for c in columns)})"


SESSION_INSERT = _insert("sessions", SESSION_COLUMNS)
MESSAGE_INSERT = _insert("messages", MESSAGE_COLUMNS)


@dataclass(frozen=True)
class FileRow:
    """The mirror's record of one session file."""

    id: int
    path: str
    ino: int
    size: int
    mtime_ns: int
    hash: str | None
    prefix_size: int
    prefix_hash: str | None
    prefix_count: int
    body_offset: int
    indexed_at_ns: int
    status: str

    @property
    def state(self) -> FileState:
        return FileState(self.ino, self.size, self.mtime_ns)


@dataclass(frozen=True)
class Prefix:
    """Bytes of a file known to parse to its first `count` messages (see sync.py)."""

    size: int
    hash: str | None
    count: int
    body_offset: int


def dumps_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def session_updated_at(created_at: str, updated: str | None, last: str | None) -> str:
    """A session's last activity: the latest of its creation, its frontmatter `updated`
    and its last message (normalised times compare as strings)."""
    return max(created_at, normalize_ts(updated) or "", last or "")


def session_values(file_id: int, s: SessionFile) -> dict[str, Any]:
    """A session's row of `sessions`, by column (`SESSION_COLUMNS`)."""
    times = [normalize_ts(m.created_at) or "" for m in s.messages]
    last = max(times) if times else None
    created_at = normalize_ts(s.created) or s.created
    return {
        "file_id": file_id,
        "id": s.id,
        "title": s.title,
        "topic": s.topic,
        "created": s.created,
        "updated": s.updated,
        "status": s.status,
        **{f: getattr(s, f) for f in KEY_FIELDS},
        "tags": dumps_json(list(s.tags)),
        "metadata": dumps_json(s.metadata),
        "source": s.source,
        "source_id": s.source_id,
        "source_path": s.source_path,
        "imported_at": s.imported_at,
        "truncated": int(s.truncated),
        "extra": dumps_json(s.extra),
        "message_count": len(s.messages),
        "created_at": created_at,
        "updated_at": session_updated_at(created_at, s.updated, last),
        "last_message_at": last,
    }


def session_record(rel: str, s: SessionFile) -> SessionRecord:
    """The record the mirror would hold for `s` in the file `rel` (`day/name.md`)."""
    values = session_values(0, s)
    del values["file_id"]
    return SessionRecord(
        path=rel,
        **{
            **values,
            "tags": tuple(s.tags),
            "metadata": dict(s.metadata),
            "extra": dict(s.extra),
            "truncated": bool(s.truncated),
        },
    )


def message_values(file_id: int, position: int, session_id: str, m: Message) -> dict[str, Any]:
    """A message's row of `messages`, by column (`MESSAGE_COLUMNS`)."""
    return {
        "file_id": file_id,
        "position": position,
        "id": m.id,
        "session_id": session_id,
        "role": m.role,
        "content": m.content,
        "metadata": dumps_json(m.metadata) if m.metadata else "{}",  # most have none
        "created_at": normalize_ts(m.created_at) or m.created_at,
        "edited": int(m.edited),
    }
