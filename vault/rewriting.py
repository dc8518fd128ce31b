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
    Message,
    ParsedSession,
    render_frontmatter,
    render_head,
    render_message,
    title_line,
)
from .write_check import check_json_value, check_rendered

__all__ = (
    "patch_changes",
    "patched",
    "with_lost_messages",
    "with_messages",
    "without_message",
)


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


def with_lost_messages(
    parsed: ParsedSession, data: bytes, lost: list[Message]
) -> tuple[bytes, list[int], InvalidInput | None]:
    """The file with each of `lost` put back before the first message created after it (at
    the end when none is), one after the other in the order given (as if restored one at
    a time, in one write), and the 0-based position each took when it was put back. Stops
    at the first message that is already there and returns that refusal too."""
    order = [m.id for m in parsed.session.messages]
    created = {m.id: m.created_at for m in parsed.session.messages}
    by_id: dict[str, Message] = {}
    positions: list[int] = []
    refused = None
    for message in lost:
        if message.id in created:
            refused = InvalidInput(f"Message {message.id} is already in its session", field="id")
            break
        at = next((i for i, mid in enumerate(order) if created[mid] > message.created_at), None)
        at = len(order) if at is None else at
        order.insert(at, message.id)
        created[message.id] = message.created_at
        by_id[message.id] = message
        positions.append(at)
    placed: list[tuple[Message, str | None]] = []
    anchor: str | None = None  # the next message of the file as parsed, walking backwards
    for mid in reversed(order):
        if mid in by_id:
            placed.append((by_id[mid], anchor))
        else:
            anchor = mid
    return with_messages(parsed, data, placed[::-1]), positions, refused


def with_messages(
    parsed: ParsedSession, data: bytes, placed: list[tuple[Message, str | None]]
) -> bytes:
    """The file with each message's block inserted just before the message whose id is
    paired with it (at the end for None), in the order given; a torn tail is dropped.
    `InvalidInput` if a message is already there, `MessageNotFound` for an unknown anchor."""
    held = [m.id for m in parsed.session.messages]
    before: dict[str | None, list[bytes]] = {}
    for message, anchor in placed:
        if message.id in held:
            raise InvalidInput(f"Message {message.id} is already in its session", field="id")
        if anchor is not None and anchor not in held:
            raise MessageNotFound(anchor)
        before.setdefault(anchor, []).append(render_message(message).encode("utf-8"))
    out, last = [], 0
    for i, message_id in enumerate(held):
        if message_id in before:
            at = parsed.message_starts[i]
            out += [data[last:at], *before[message_id]]
            last = at
    end = len(data) if parsed.torn_offset is None else parsed.torn_offset
    out += [data[last:end], *before.get(None, [])]
    return b"".join(out)
