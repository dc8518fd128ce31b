"""Whole-file edits of a session: the new bytes for a patch of the frontmatter, or for a
file without one message block. The vault writes them with an atomic replace, only if
the file is still the version parsed (see `Vault._rewrite`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .conversation import check_content
from .errors import InvalidInput, MessageNotFound
from .session_file import (
    KEY_FIELDS,
    STATUSES,
    ParsedSession,
    render_frontmatter,
    render_head,
    title_line,
)
from .write_check import check_json_value, check_rendered

__all__ = ("patch_changes", "patched", "without_message")


def patch_changes(
    *,
    title: str | None,
    status: str | None,
    tags: list[str] | None,
    metadata: dict[str, Any] | None,
    key_fields: dict[str, str | None],
) -> dict[str, Any]:
    """The checked `SessionFile` field changes of a patch (metadata is merged apart)."""
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = check_content(title, "title")
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"'status' must be one of {', '.join(STATUSES)}", field="status")
        changes["status"] = status
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput("'tags' must be a list of strings", field="tags")
        check_json_value(tags, "tags")
        changes["tags"] = tuple(tags)
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise InvalidInput("'metadata' must be an object", field="metadata")
        check_json_value(metadata, "metadata")
    for key, value in key_fields.items():
        if key not in KEY_FIELDS:
            raise InvalidInput(f"Unknown session field '{key}'", field=key)
        if value is not None:
            changes[key] = check_content(value, key)
    return changes


def patched(
    parsed: ParsedSession,
    data: bytes,
    changes: dict[str, Any],
    metadata: dict[str, Any] | None,
    updated: str,
) -> bytes:
    """The file with a new frontmatter (and `# Title` line, if it is still ours); the
    body is kept byte for byte, without a torn tail. `InvalidInput` if the new file would
    not parse back (e.g. frontmatter over 64 KB): the caller then writes nothing."""
    old = parsed.session
    new = replace(old, updated=updated, **changes)
    if metadata is not None:
        merged = dict(old.metadata)
        for key, value in metadata.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        new = replace(new, metadata=merged)
    body = data[parsed.body_offset : parsed.torn_offset]
    old_title = title_line(old).encode("utf-8")
    if old_title and body.startswith(old_title):
        out = render_head(new).encode("utf-8") + body[len(old_title) :]
    elif not old_title:
        out = render_head(new).encode("utf-8") + body
    else:
        out = render_frontmatter(new).encode("utf-8") + body
    return check_rendered(out, new)


def without_message(parsed: ParsedSession, data: bytes, message_id: str) -> bytes:
    """The file without the block of `message_id` (and the blank line before it)."""
    for i, message in enumerate(parsed.session.messages):
        if message.id == message_id:
            return data[: parsed.message_starts[i]] + data[parsed.message_ends[i] :]
    raise MessageNotFound(message_id)
