"""New session files: the frontmatter of a session an append or an import creates, and
writing the file under a fresh name (a hard link from a synced temp file: never an
overwrite; a generated id follows the name it got)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from . import files
from .conversation import Draft, choose_topic, extract_title
from .errors import FilenameGenerationError, InvalidInput
from .paths import generated_session_id, session_filename, slugify
from .session_file import (
    KEY_FIELDS,
    SOURCE_FIELDS,
    Message,
    SessionFile,
    check_timestamp,
    dumps,
    format_ts,
    render_message,
    utc_now,
)
from .write_check import check_json_value, check_rendered

__all__ = ("fresh_session", "imported_session", "named_session", "write_new")


def fresh_session(
    message: Message, now: datetime, new_session: dict[str, Any] | None
) -> SessionFile:
    """A session with a generated id (given when written) for its first message."""
    drafts = [Draft(message.role, message.content, message.metadata)]
    chosen = choose_topic((new_session or {}).get("title"), drafts)
    return SessionFile(
        id="",
        created=format_ts(now),
        title=chosen.title,
        topic=chosen.slug,
        messages=(message,),
        **_session_fields(new_session, skip=("title",)),
    )


def named_session(
    session_id: str,
    message: Message,
    now: datetime,
    created_at: str | None,
    new_session: dict[str, Any] | None,
) -> SessionFile:
    """The session a caller named (seed 000: an unknown id creates it) for its first message."""
    extra = dict(new_session or {})
    title = str(extra.pop("title", "") or "") or extract_title(
        [Draft(message.role, message.content, message.metadata)]
    )
    return SessionFile(
        id=session_id,
        created=created_at or format_ts(now),
        title=title,
        topic=slugify(session_id) or slugify(title) or "untitled",
        messages=(message,),
        **_session_fields(extra),
    )


def imported_session(
    session_id: str, messages: list[Message], new_session: dict[str, Any] | None
) -> tuple[SessionFile, datetime]:
    """An imported session (each message id once) and the time whose date folder it goes
    into: its own `created`, not today."""
    extra = dict(new_session or {})
    title = str(extra.pop("title", "") or "")
    topic = str(extra.pop("topic", "") or "")
    created = extra.pop("created", None)
    now = _parse_ts(check_timestamp(created, "created")) if created else utc_now()
    unique = tuple({m.id: m for m in messages}.values())
    session = SessionFile(
        id=session_id,
        created=created or format_ts(now),
        title=title,
        topic=slugify(topic or title or session_id) or "untitled",
        messages=unique,
        **_session_fields(extra),
    )
    return session, now


def write_new(
    folder: Path, session: SessionFile, now: datetime, limit: int
) -> tuple[Path, SessionFile]:
    """Write a new session file in `folder` under the first free name of `now` and its
    topic (`-1` … `-limit` on collisions); returns the path and the session as written."""
    for message in session.messages:
        render_message(message)
    check_json_value(session.metadata, "metadata")
    try:
        data = dumps(session).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput("A session field holds an unpaired surrogate", details=str(exc)) from exc
    if session.id:
        check_rendered(data, session)
        names = (session_filename(now, session.topic, n) for n in range(limit + 1))
        return files.create_exclusive(folder, names, data), session
    # The id is the file name, so each candidate name needs its own rendering.
    for n in range(limit + 1):
        name = session_filename(now, session.topic, n)
        if files.stat_file(folder / name) is not None:
            continue
        candidate = replace(session, id=generated_session_id(name))
        data = check_rendered(dumps(candidate).encode("utf-8"), candidate)
        try:
            path = files.create_exclusive(folder, [name], data)
        except FilenameGenerationError:
            continue
        return path, candidate
    raise FilenameGenerationError(
        "Cannot generate a unique filename: all collision suffixes are taken",
        details=str(folder),
    )


def _session_fields(values: dict[str, Any] | None, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    allowed = {*KEY_FIELDS, *SOURCE_FIELDS, "tags", "metadata", "status", "extra"}
    out: dict[str, Any] = {}
    for key, value in (values or {}).items():
        if key in skip:
            continue
        if key not in allowed:
            raise InvalidInput(f"Unknown session field '{key}'", field=key)
        out[key] = tuple(value) if key == "tags" else value
    return out


def _parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
