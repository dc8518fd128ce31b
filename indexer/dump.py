"""Canonical dumps: the mirror's content, and what a fresh parse of the files says it
should be. Equal dumps mean the index is in step with the files (tests, `doctor`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from vault import MalformedSessionFile, SymlinkRefused, UnreadableSessionFile, Vault
from vault.files import read_bytes
from vault.session_file import parse

from .rows import message_values, session_values
from .schema import SESSION_COLUMNS

__all__ = ("dump_mirror", "expected_dump")

_SESSION_KEYS = SESSION_COLUMNS[1:]  # all but file_id
_MESSAGE_KEYS = ("id", "session_id", "role", "content", "metadata", "created_at", "edited")


def dump_mirror(conn: sqlite3.Connection) -> dict[str, Any]:
    """{path: {"status", "session", "messages"}} from the mirror."""
    out: dict[str, Any] = {}
    for f in conn.execute("SELECT id, path, status FROM files ORDER BY path"):
        entry: dict[str, Any] = {"status": f["status"], "session": None, "messages": []}
        s = conn.execute("SELECT * FROM sessions WHERE file_id = ?", (f["id"],)).fetchone()
        if s is not None:
            entry["session"] = _session_dict(s)
        rows = conn.execute(
            "SELECT * FROM messages WHERE file_id = ? ORDER BY position", (f["id"],)
        )
        entry["messages"] = [_message_dict(r) for r in rows]
        out[f["path"]] = entry
    return out


def expected_dump(vault: Vault) -> dict[str, Any]:
    """The same structure computed from a fresh parse of every session file."""
    out: dict[str, Any] = {}
    for path in vault.session_paths():
        rel = f"{path.parent.name}/{path.name}"
        entry: dict[str, Any] = {"status": "ok", "session": None, "messages": []}
        try:
            data, _ = read_bytes(path)
            session = parse(data, path).session
        except MalformedSessionFile:
            entry["status"] = "malformed"
        except (SymlinkRefused, UnreadableSessionFile):
            entry["status"] = "refused"
        else:
            entry["session"] = _session_dict(session_values(0, session))
            for i, m in enumerate(session.messages):
                entry["messages"].append(_message_dict(message_values(0, i, session.id, m)))
        out[rel] = entry
    return out


def _session_dict(row: Mapping[str, Any] | sqlite3.Row) -> dict[str, Any]:
    data = {k: row[k] for k in _SESSION_KEYS}
    for key in ("tags", "metadata", "extra"):
        data[key] = json.loads(data[key])
    data["truncated"] = bool(data["truncated"])
    return data


def _message_dict(row: Mapping[str, Any] | sqlite3.Row) -> dict[str, Any]:
    data = {k: row[k] for k in _MESSAGE_KEYS}
    data["metadata"] = json.loads(data["metadata"])
    data["edited"] = bool(data["edited"])
    return data
