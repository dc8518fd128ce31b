"""Plain values the indexer returns: sessions, messages, hits, status, reports."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from vault import InvalidInput

__all__ = (
    "ConversationPair",
    "IndexStatus",
    "MalformedFile",
    "MessageRecord",
    "ReconcileReport",
    "SearchHit",
    "SearchResult",
    "SessionRecord",
    "normalize_ts",
    "parse_bound",
    "to_datetime",
)

_CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@dataclass(frozen=True)
class SessionRecord:
    """A session as mirrored from its file's frontmatter, with derived counters."""

    id: str
    path: str
    title: str
    topic: str
    created: str
    updated: str | None
    status: str
    agent_id: str | None
    channel: str | None
    account_id: str | None
    peer_kind: str | None
    peer_id: str | None
    tags: tuple[str, ...]
    metadata: dict[str, Any]
    source: str | None
    source_id: str | None
    source_path: str | None
    imported_at: str | None
    truncated: bool
    extra: dict[str, Any]
    message_count: int
    created_at: str
    updated_at: str
    last_message_at: str | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        return data


@dataclass(frozen=True)
class MessageRecord:
    """One message as mirrored; `position` is its 0-based place in the session file."""

    id: str
    session_id: str
    position: int
    role: str
    content: str
    metadata: dict[str, Any]
    created_at: str
    edited: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConversationPair:
    """A user message and the assistant message that directly follows it."""

    user: MessageRecord
    assistant: MessageRecord

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user.to_dict(), "assistant": self.assistant.to_dict()}


@dataclass(frozen=True)
class SearchHit:
    """One ranked message; `highlights` are (start, end) character offsets into `snippet`."""

    message_id: str
    session_id: str
    session_title: str
    role: str
    created_at: str
    score: float
    snippet: str
    highlights: tuple[tuple[int, int], ...] = ()
    found_by: tuple[str, ...] = ("keyword",)  # which search found it: keyword, semantic

    def marked_snippet(self, before: str = "**", after: str = "**") -> str:
        """The snippet with every highlighted range wrapped in `before`/`after`."""
        out, last = [], 0
        for start, end in self.highlights:
            out += [self.snippet[last:start], before, self.snippet[start:end], after]
            last = end
        out.append(self.snippet[last:])
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["highlights"] = [list(h) for h in self.highlights]
        data["found_by"] = list(self.found_by)
        return data


@dataclass(frozen=True)
class SearchResult:
    """A page of hits; `total` counts every match; `stale` when index lag could not be
    covered (a rebuild in progress), so very recent writes may be missing."""

    hits: tuple[SearchHit, ...]
    total: int
    stale: bool = False
    mode: str = "keyword"  # the search that ran: keyword, semantic or hybrid

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": [h.to_dict() for h in self.hits],
            "total": self.total,
            "stale": self.stale,
            "mode": self.mode,
        }


@dataclass(frozen=True)
class MalformedFile:
    """A session file that could not be indexed, and why."""

    path: str
    line: int | None
    reason: str


@dataclass
class ReconcileReport:
    """What a reconcile or rebuild did."""

    scanned: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    malformed: int = 0
    retried: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.removed + self.malformed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IndexStatus:
    """Files versus index: counts, malformed files, lag and who maintains the index."""

    files_on_disk: int
    files_indexed: int
    sessions: int
    messages: int
    fulltext_documents: int
    fulltext_pending: int
    lag_seconds: float
    leader: bool
    watcher: str | None
    last_reconcile: str | None
    schema_version: int
    malformed: tuple[MalformedFile, ...] = field(default_factory=tuple)
    semantic: dict[str, Any] = field(default_factory=dict)  # embedded, pending, lag_seconds…

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["malformed"] = [asdict(m) for m in self.malformed]
        return data


def normalize_ts(value: str | None) -> str | None:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC when `value` is a readable ISO time, else unchanged."""
    if value is None or _CANONICAL.match(value):
        return value
    moment = _parse_iso(value)
    return value if moment is None else _format(moment)


def to_datetime(value: str | None) -> datetime | None:
    """A stored time as an aware UTC datetime (None when unreadable)."""
    return None if value is None else _parse_iso(value)


def parse_bound(value: str | datetime | None, field_name: str) -> str | None:
    """A caller's before/after bound as a canonical time string; `InvalidInput` if unreadable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _format(value if value.tzinfo else value.replace(tzinfo=UTC))
    parsed = _parse_iso(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidInput(
            f"'{field_name}' must be an ISO 8601 time like 2025-01-15T14:30:22Z", field=field_name
        )
    # tantivy's dates are nanoseconds in an i64 (years 1677..2262): clamp, which keeps the
    # meaning of a filter for any message that can exist ("after 2999" matches nothing).
    parsed = min(max(parsed, _EARLIEST), _LATEST)
    return _format(parsed)


_EARLIEST = datetime(1678, 1, 1, tzinfo=UTC)
_LATEST = datetime(2261, 12, 31, tzinfo=UTC)


def _parse_iso(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _format(moment: datetime) -> str:
    m = moment.astimezone(UTC)
    if not 1000 <= m.year <= 9999:  # strftime's %Y is not zero-padded below 1000 (glibc)
        return m.strftime("%Y-%m-%dT%H:%M:%S.") + f"{m.microsecond // 1000:03d}Z"
    # the same text without strftime, which cost most of a date-filtered search's filter
    return (
        f"{m.year}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}."
        f"{m.microsecond // 1000:03d}Z"
    )
