"""Rows of the SQLite mirror as Python values: a file's record, its verified prefix, and
the values a session and its messages are stored as (shared by the mirror and its dump)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from vault import FileState, Message, SessionFile

from .records import normalize_ts
from .schema import KEY_FIELDS

__all__ = (
    "FileRow",
    "Prefix",
    "dumps_json",
    "message_values",
    "session_updated_at",
    "session_values",
)


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


def session_values(file_id: int, s: SessionFile) -> tuple[Any, ...]:
    times = [normalize_ts(m.created_at) or "" for m in s.messages]
    last = max(times) if times else None
    created_at = normalize_ts(s.created) or s.created
    updated_at = session_updated_at(created_at, s.updated, last)
    return (
        file_id,
        s.id,
        s.title,
        s.topic,
        s.created,
        s.updated,
        s.status,
        *(getattr(s, f) for f in KEY_FIELDS),
        dumps_json(list(s.tags)),
        dumps_json(s.metadata),
        s.source,
        s.source_id,
        s.source_path,
        s.imported_at,
        int(s.truncated),
        dumps_json(s.extra),
        len(s.messages),
        created_at,
        updated_at,
        last,
    )


def message_values(file_id: int, position: int, session_id: str, m: Message) -> tuple[Any, ...]:
    created = normalize_ts(m.created_at) or m.created_at
    metadata = dumps_json(m.metadata)
    return (
        file_id,
        position,
        m.id,
        session_id,
        m.role,
        m.content,
        metadata,
        created,
        int(m.edited),
    )
