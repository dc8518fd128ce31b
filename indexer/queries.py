"""Read queries on the SQLite mirror: the session store (seed 001) and the message store
(seed 002). Every function takes a connection, usually from `Mirror.read()`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vault import AmbiguousSession, InvalidInput, SessionNotFound

from .records import ConversationPair, MalformedFile, MessageRecord, SessionRecord, parse_bound
from .schema import KEY_FIELDS, SESSION_COLUMNS
from .tool_filter import tool_sql

__all__ = (
    "MAX_OFFSET",
    "conversation_pairs",
    "count_messages",
    "find_by_key",
    "get_messages",
    "get_session",
    "list_sessions",
    "malformed_files",
    "recent_messages",
    "resolve_file",
    "session_ids_with_prefix",
)

STATUSES = ("active", "idle", "compacted", "archived")
MAX_LIMIT = 10_000
# A session file is capped at 20 MB, so no page of a session or of the session list starts
# further in; beyond it SQLite would still count rows (and 2**63 overflows its integers).
MAX_OFFSET = 1_000_000
_SESSION_SELECT = (
    "SELECT s.*, f.path AS path FROM sessions AS s JOIN files AS f ON f.id = s.file_id"
)
_MESSAGE_SELECT = (
    "SELECT m.id, m.session_id, m.position, m.role, m.content, m.metadata, m.created_at, "
    "m.edited FROM messages AS m"
)


def get_session(conn: sqlite3.Connection, session_id: str) -> SessionRecord | None:
    """The session with this id; `AmbiguousSession` if several files claim it."""
    rows = conn.execute(
        f"{_SESSION_SELECT} WHERE s.id = ? ORDER BY s.file_id", (session_id,)
    ).fetchall()
    if len(rows) > 1:
        raise AmbiguousSession(session_id, [Path(r["path"]) for r in rows])
    return _session(rows[0]) if rows else None


def resolve_file(conn: sqlite3.Connection, session_id: str) -> int:
    """The file id of a session; `SessionNotFound` or `AmbiguousSession`."""
    rows = conn.execute(
        "SELECT s.file_id, f.path FROM sessions AS s JOIN files AS f ON f.id = s.file_id "
        "WHERE s.id = ?",
        (session_id,),
    ).fetchall()
    if not rows:
        raise SessionNotFound(session_id)
    if len(rows) > 1:
        raise AmbiguousSession(session_id, [Path(r[1]) for r in rows])
    return int(rows[0][0])


def find_by_key(conn: sqlite3.Connection, key: Mapping[str, str | None]) -> SessionRecord | None:
    """The most recently updated session whose five key fields equal `key` (None = absent)."""
    where = " AND ".join(f"s.{f} IS ?" for f in KEY_FIELDS)
    row = conn.execute(
        f"{_SESSION_SELECT} WHERE {where} ORDER BY s.updated_at DESC, s.file_id LIMIT 1",
        tuple(key.get(f) for f in KEY_FIELDS),
    ).fetchone()
    return None if row is None else _session(row)


def list_sessions(
    conn: sqlite3.Connection,
    *,
    filters: Mapping[str, Any] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[SessionRecord]:
    """Sessions newest `updated_at` first.

    Args:
        filters: any of the five key fields and `status` (exact match), and
            `created_after`, `created_before`, `updated_after`, `updated_before` (ISO
            times or datetimes, exclusive bounds). A None value means "no filter".
    """
    clauses: list[str] = []
    params: list[Any] = []
    for name, value in (filters or {}).items():
        if value is None:
            continue
        if name in KEY_FIELDS:
            clauses.append(f"s.{name} = ?")
            params.append(value)
        elif name == "status":
            if value not in STATUSES:
                raise InvalidInput(f"'status' must be one of {', '.join(STATUSES)}", field=name)
            clauses.append("s.status = ?")
            params.append(value)
        elif name in ("created_after", "created_before", "updated_after", "updated_before"):
            column, direction = name.split("_")
            op = ">" if direction == "after" else "<"
            clauses.append(f"s.{column}_at {op} ?")
            params.append(parse_bound(value, name))
        else:
            raise InvalidInput(f"Unknown session filter '{name}'", field=name)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"{_SESSION_SELECT}{where} ORDER BY s.updated_at DESC, s.file_id DESC LIMIT ? OFFSET ?",
        (*params, _limit(limit), _offset(offset)),
    )
    return [_session(r) for r in rows]


def get_messages(
    conn: sqlite3.Connection,
    session_id: str,
    *,
    before: Any = None,
    after: Any = None,
    role: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[MessageRecord]:
    """A session's messages in file order, optionally only those strictly between
    `after` and `before` (message times) and of one `role`."""
    file_id = resolve_file(conn, session_id)
    clauses, params = ["m.file_id = ?"], [file_id]
    _time_and_role(clauses, params, before, after, role)
    rows = conn.execute(
        f"{_MESSAGE_SELECT} WHERE {' AND '.join(clauses)} ORDER BY m.position LIMIT ? OFFSET ?",
        (*params, -1 if limit is None else _limit(limit), _offset(offset)),
    )
    return [_message(r) for r in rows]


def recent_messages(
    conn: sqlite3.Connection, limit: int = 10, session_id: str | None = None
) -> list[MessageRecord]:
    """The latest `limit` messages (overall or of one session), returned oldest first."""
    if session_id is not None:
        file_id = resolve_file(conn, session_id)
        rows = conn.execute(
            f"{_MESSAGE_SELECT} WHERE m.file_id = ? ORDER BY m.position DESC LIMIT ?",
            (file_id, _limit(limit)),
        ).fetchall()
    else:
        rows = conn.execute(
            f"{_MESSAGE_SELECT} ORDER BY m.created_at DESC, m.file_id DESC, m.position DESC "
            "LIMIT ?",
            (_limit(limit),),
        ).fetchall()
    return [_message(r) for r in reversed(rows)]


def count_messages(
    conn: sqlite3.Connection,
    session_id: str | None = None,
    role: str | None = None,
    tool: str | None = None,
) -> int:
    """How many messages (overall or in one session, optionally of one role, optionally
    calling or answering one tool: `tool` folded by `tool_filter.check_tool`)."""
    clauses: list[str] = []
    params: list[Any] = []
    if session_id is not None:
        clauses.append("m.file_id = ?")
        params.append(resolve_file(conn, session_id))
    if role is not None:
        clauses.append("m.role = ?")
        params.append(role)
    if tool is not None:
        sql, args = tool_sql("m", tool)
        clauses.append(sql)
        params += args
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    query = f"SELECT count(*) FROM messages AS m{where}"
    return int(conn.execute(query, params).fetchone()[0])


def conversation_pairs(
    conn: sqlite3.Connection, session_id: str | None = None, limit: int = 10
) -> list[ConversationPair]:
    """The latest `limit` user→assistant pairs (a user message directly followed by an
    assistant message in the same session), oldest first."""
    clauses, params = ["u.role = 'user'", "a.role = 'assistant'"], []
    if session_id is not None:
        clauses.append("u.file_id = ?")
        params.append(resolve_file(conn, session_id))
    cols = "id, session_id, position, role, content, metadata, created_at, edited"
    select = ", ".join(f"u.{c} AS u_{c}" for c in cols.split(", "))
    select += ", " + ", ".join(f"a.{c} AS a_{c}" for c in cols.split(", "))
    order = "u.position DESC" if session_id is not None else "a.created_at DESC, u.file_id DESC"
    rows = conn.execute(
        f"SELECT {select} FROM messages AS u JOIN messages AS a "
        "ON a.file_id = u.file_id AND a.position = u.position + 1 "
        f"WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT ?",
        (*params, _limit(limit)),
    ).fetchall()
    pairs = []
    for r in reversed(rows):
        user = _message({c: r[f"u_{c}"] for c in cols.split(", ")})
        assistant = _message({c: r[f"a_{c}"] for c in cols.split(", ")})
        pairs.append(ConversationPair(user, assistant))
    return pairs


def session_ids_with_prefix(conn: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
    """Up to `limit` distinct session ids that start with `prefix`, in id order."""
    rows = conn.execute(
        "SELECT DISTINCT id FROM sessions WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT ?",
        (len(prefix), prefix, limit),
    )
    return [r[0] for r in rows]


def malformed_files(conn: sqlite3.Connection) -> list[MalformedFile]:
    rows = conn.execute(
        "SELECT path, error_line, error FROM files WHERE status != 'ok' ORDER BY path"
    )
    return [MalformedFile(r[0], r[1], r[2] or "") for r in rows]


def _time_and_role(
    clauses: list[str], params: list[Any], before: Any, after: Any, role: str | None
) -> None:
    if before is not None:
        clauses.append("m.created_at < ?")
        params.append(parse_bound(before, "before"))
    if after is not None:
        clauses.append("m.created_at > ?")
        params.append(parse_bound(after, "after"))
    if role is not None:
        clauses.append("m.role = ?")
        params.append(role)


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise InvalidInput("'limit' must be a non-negative integer", field="limit")
    return min(limit, MAX_LIMIT)


def _offset(offset: int) -> int:
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"'offset' must be 0..{MAX_OFFSET}", field="offset")
    return offset


_JSON_COLUMNS = ("tags", "metadata", "extra")


def _session(r: sqlite3.Row) -> SessionRecord:
    """A `sessions` row (with its file's `path`) as a record, by column name."""
    data = {c: r[c] for c in SESSION_COLUMNS[1:]}
    for column in _JSON_COLUMNS:
        data[column] = json.loads(data[column])
    data["tags"] = tuple(data["tags"])
    data["truncated"] = bool(data["truncated"])
    return SessionRecord(path=r["path"], **data)


def _message(r: Mapping[str, Any] | sqlite3.Row) -> MessageRecord:
    return MessageRecord(
        id=r["id"],
        session_id=r["session_id"],
        position=r["position"],
        role=r["role"],
        content=r["content"],
        metadata=json.loads(r["metadata"]),
        created_at=r["created_at"],
        edited=bool(r["edited"]),
    )
