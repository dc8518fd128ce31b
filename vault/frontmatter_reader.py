"""Reading a session file's frontmatter: find it, parse its YAML, check its fields.

`read_frontmatter` reads only the head of a file (the id look-ups of vault/lookup.py);
`split_frontmatter` also returns where the body starts, for the full parser
(vault/parsing.py), and `session_from` builds the `SessionFile` from checked fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import MalformedSessionFile
from .records import (
    KEY_FIELDS,
    MAX_FRONTMATTER_BYTES,
    SOURCE_FIELDS,
    STATUSES,
    Message,
    SessionFile,
)
from .yaml_io import YamlError, load_yaml

__all__ = ("read_frontmatter", "session_from", "split_frontmatter")

_BOM = b"\xef\xbb\xbf"
_KNOWN = frozenset(
    {
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
)


def read_frontmatter(data: bytes, path: Path | None = None) -> dict[str, Any]:
    """Parse only the frontmatter (for cheap id look-ups); raises `MalformedSessionFile`."""
    return split_frontmatter(data, path)[0]


def split_frontmatter(data: bytes, path: Path | None = None) -> tuple[dict[str, Any], int]:
    """The checked frontmatter fields and the offset where the body starts."""
    pos = len(_BOM) if data.startswith(_BOM) else 0
    first_end = data.find(b"\n", pos)
    if first_end < 0 or data[pos:first_end].rstrip(b"\r") != b"---":
        raise _fail(data, path, pos, "file does not start with a '---' frontmatter line")
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
            raise _fail(data, path, start, "frontmatter is larger than 64 KB or is never closed")
        raise _fail(data, path, start, "frontmatter is not closed by a '---' line")
    if close - start > MAX_FRONTMATTER_BYTES:
        raise _fail(data, path, start, "frontmatter is larger than 64 KB")
    nl = data.find(b"\n", close)
    body_offset = len(data) if nl < 0 else nl + 1
    try:
        text = data[start:close].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(data, path, start + exc.start, "frontmatter is not valid UTF-8") from exc
    try:
        raw = load_yaml(text) if text.strip() else {}
    except YamlError as exc:
        raw = _conflicted_yaml(text)
        if raw is None:
            base = data.count(b"\n", 0, start)
            raise MalformedSessionFile(path, base + exc.line, exc.reason) from exc
    if not isinstance(raw, dict):
        raise _fail(data, path, start, "frontmatter is not a mapping")
    return _checked(raw, data, path, start), body_offset


def session_from(fm: Mapping[str, Any], messages: tuple[Message, ...]) -> SessionFile:
    """The session of checked frontmatter fields (unknown keys kept in `extra`)."""
    extra = {k: v for k, v in fm.items() if k not in _KNOWN}
    values = {k: fm[k] for k in _KNOWN if k in fm}
    values.setdefault("title", "")
    values.setdefault("topic", "")
    return SessionFile(extra=extra, messages=messages, **values)


def _conflicted_yaml(text: str) -> Any:
    """A frontmatter holding git's conflict markers (a clone without the merge driver),
    read as its first side, so the file's messages stay readable until it is resolved
    (`doctor` reports it, `codearchitect resolve` merges it); None if that fails too."""
    if "<<<<<<<" not in text:
        return None
    from .gitshare.markers import first_side

    try:
        return load_yaml(first_side(text.encode("utf-8")).decode("utf-8"))
    except YamlError:
        return None


def _fail(data: bytes, path: Path | None, offset: int, reason: str) -> MalformedSessionFile:
    return MalformedSessionFile(path, data.count(b"\n", 0, offset) + 1, reason)


def _checked(raw: dict[Any, Any], data: bytes, path: Path | None, offset: int) -> dict[str, Any]:
    """The frontmatter fields, checked and normalised; failures point at `offset`."""

    def fail(reason: str) -> MalformedSessionFile:
        return _fail(data, path, offset, reason)

    fm: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise fail(f"frontmatter key {key!r} is not text")
        fm[key] = value
    sid = fm.get("id")
    if sid is None and path is not None:
        sid = path.stem
    if not isinstance(sid, str) or not sid.strip():
        raise fail("frontmatter 'id' is missing or not text")
    fm["id"] = sid
    for key in ("title", "topic", "updated", "status", *KEY_FIELDS, *SOURCE_FIELDS):
        value = fm.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise fail(f"frontmatter '{key}' must be text")
        fm[key] = str(value)
    created = fm.get("created")
    if created is None:
        created = _created_from_name(path)
    if not isinstance(created, str) or not created:
        raise fail("frontmatter 'created' is missing or not text")
    fm["created"] = created
    status = fm.get("status", "active")
    if status not in STATUSES:
        raise fail(f"frontmatter 'status' must be one of {', '.join(STATUSES)}")
    fm["status"] = status
    tags = fm.get("tags", [])
    if tags is None:
        tags = []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str | int) for t in tags):
        raise fail("frontmatter 'tags' must be a list of text")
    fm["tags"] = tuple(str(t) for t in tags)
    metadata = fm.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise fail("frontmatter 'metadata' must be a mapping")
    fm["metadata"] = metadata
    truncated = fm.get("truncated", False)
    if not isinstance(truncated, bool):
        raise fail("frontmatter 'truncated' must be true or false")
    fm["truncated"] = truncated
    return fm


def _created_from_name(path: Path | None) -> str | None:
    if path is None:
        return None
    m = re.match(r"session-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})", path.name)
    if not m:
        return None
    y, mo, d, h, mi, s = m.groups()
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}.000Z"
