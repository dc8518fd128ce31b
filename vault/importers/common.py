"""Shared pieces of the importers: drafts, ids, times, caps, and the skip report.

Every importer turns a source into `SessionDraft`s: a session id derived from the source's
own id, the frontmatter of a new session, and messages whose ids are derived from the
source's message ids. The runner writes them through `Vault.append_messages`, which skips
ids a session already holds, so importing the same source twice writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ..conversation import TRUNCATE_BYTES, cut_utf8
from ..session_file import Message, end_marker, format_ts

__all__ = (
    "NOISE",
    "MessageDraft",
    "SessionDraft",
    "Skip",
    "clean",
    "clean_fields",
    "first_line_title",
    "is_noise",
    "is_record_skip",
    "message_id",
    "normalise_ts",
    "record_count",
    "resolve_tool_results",
    "session_id",
)

Skip = tuple[str, str]
"""(what, reason): a file and line, a conversation id, a zip member…, and why it was skipped."""

NOISE = "are not messages"
"""Suffix of the reason of records that are skipped by design (progress, hooks, snapshots)."""

_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_ID_BAD_CHARS = re.compile(r"[^A-Za-z0-9._:-]+")
_TITLE_CHARS = 100


@dataclass
class MessageDraft:
    """A message before its time is settled (sources may omit times)."""

    id: str
    role: str
    content: str
    ts: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass
class SessionDraft:
    """One session to write: its id, the frontmatter of a new file, and its messages."""

    session_id: str
    fields: dict[str, Any]
    messages: list[Message]
    label: str


def is_noise(reason: str) -> bool:
    """True for skips that are by design (records that are not messages)."""
    return reason.endswith(NOISE)


# Where a skipped record sits: a transcript line (`file:12`), or a message or node of a
# conversation (`… message 3`, `… node abc`; `finalise` adds a message's id).
_RECORD_AT = re.compile(r":\d+$| (message|node) \S+$")
_COUNTED = (re.compile(r"(\d+) .*record\(s\)"), re.compile(r"\((\d+) record\(s\)\)"))


def is_record_skip(skip: Skip) -> bool:
    """A skipped record (a line, a node, a message of a conversation that was imported),
    as opposed to a whole source file, zip member, conversation or session."""
    what, reason = skip
    return is_noise(reason) or bool(_RECORD_AT.search(what))


def record_count(reason: str) -> int:
    """How many records one skipped-record entry stands for (records that are not messages
    are counted by type: `852 progress:hook_progress record(s) are not messages`)."""
    found = _COUNTED[0].match(reason) or _COUNTED[1].search(reason)
    return int(found.group(1)) if found else 1


def message_id(raw: object, suffix: str = "") -> str:
    """A vault message id from a source id: kept as is when valid, else made safe + hashed."""
    text = f"{raw}{suffix}"
    if _ID_OK.match(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    safe = _ID_BAD_CHARS.sub("-", text).strip("-.:_")[:100] or "x"
    if not safe[0].isalnum():
        safe = "x" + safe
    return f"{safe}-{digest}"


def session_id(prefix: str, raw: object, suffix: str = "") -> str:
    """A vault session id such as `cc-<uuid>`: only `[A-Za-z0-9._:-]`, no `..`, ≤ 128 chars."""
    text = f"{raw}"
    candidate = f"{prefix}{text}{suffix}"
    if _ID_OK.match(candidate) and ".." not in candidate:
        return candidate
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    safe = _ID_BAD_CHARS.sub("-", text).replace("..", "-").strip("-.")[:60]
    return f"{prefix}{safe}-{digest}{suffix}"


def normalise_ts(value: object) -> str | None:
    """An ISO 8601 UTC time with milliseconds (`2025-01-15T14:30:22.123Z`), or None.

    Accepts ISO strings with `Z` or an offset and any number of fraction digits, and epoch
    seconds (ChatGPT's `create_time`).
    """
    moment: datetime
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            moment = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str) and value:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        return None
    if not 1 <= moment.astimezone(UTC).year <= 9999:
        return None
    return format_ts(moment)


def clean(text: str) -> str:
    """The text with unpaired surrogates (valid in JSON, not in UTF-8) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Frontmatter fields with unpaired surrogates replaced, at any depth."""
    cleaned = _deep_clean(fields)
    assert isinstance(cleaned, dict)
    return cleaned


def first_line_title(text: str) -> str:
    """A title from free text: its first non-empty line, at most 100 characters."""
    for line in text.splitlines():
        stripped = " ".join(line.split())
        if stripped:
            return stripped[:_TITLE_CHARS]
    return ""


def finalise(drafts: Sequence[MessageDraft], fallback_ts: str) -> tuple[list[Message], list[Skip]]:
    """Messages from drafts: missing times take the previous message's (or the next's, or
    `fallback_ts`); content over 1 MB is cut at a UTF-8 boundary (`metadata.truncated`);
    a message that cannot be stored (it holds its own end-marker line) is skipped."""
    known = [d.ts for d in drafts if d.ts]
    last = known[0] if known else fallback_ts
    out: list[Message] = []
    skipped: list[Skip] = []
    for draft in drafts:
        ts = draft.ts or last
        last = ts
        content = clean(draft.content)
        meta = _clean_meta(draft.metadata)
        if len(content) > TRUNCATE_BYTES // 4 and len(content.encode("utf-8")) > TRUNCATE_BYTES:
            content = cut_utf8(content, TRUNCATE_BYTES)
            meta = {**meta, "truncated": True}
        marker = end_marker(draft.id)
        if marker in content and marker in content.split("\n"):
            skipped.append((draft.id, "content holds its own end-marker line; cannot be stored"))
            continue
        out.append(Message(draft.id, draft.role, content, ts, meta))
    return out, skipped


def resolve_tool_results(messages: Iterable[Message]) -> list[Message]:
    """Fill each tool call's `result` (and `isError`) from the `tool` messages.

    Claude Code stores a tool's result as its own `tool` message (metadata `toolUseId`),
    written when the result arrives, so the earlier assistant message never needs a rewrite.
    Readers call this to see each call with its result, as in the message model.
    """
    items = list(messages)
    results: dict[str, Message] = {}
    for message in items:
        use_id = message.metadata.get("toolUseId") if message.role == "tool" else None
        if isinstance(use_id, str) and use_id not in results:
            results[use_id] = message
    out: list[Message] = []
    for message in items:
        calls = message.metadata.get("toolCalls")
        if not isinstance(calls, list) or not any(
            isinstance(c, dict) and c.get("id") in results for c in calls
        ):
            out.append(message)
            continue
        filled: list[Any] = []
        for call in calls:
            found = results.get(str(call.get("id"))) if isinstance(call, dict) else None
            if found is None or "result" in call:
                filled.append(call)
                continue
            extra: dict[str, Any] = {"result": found.content}
            if found.metadata.get("isError"):
                extra["isError"] = True
            filled.append({**call, **extra})
        out.append(replace(message, metadata={**message.metadata, "toolCalls": filled}))
    return out


def cap_json(value: Any, limit: int = TRUNCATE_BYTES) -> Any:
    """`value` itself if its JSON is at most `limit` bytes, else its JSON text cut to fit."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)[:limit]
    if len(text) <= limit // 4 or len(text.encode("utf-8", "surrogatepass")) <= limit:
        return value
    return cut_utf8(text, limit)


def _clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    if not meta:
        return meta
    try:
        json.dumps(meta, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        cleaned = _deep_clean(meta)
        assert isinstance(cleaned, dict)
        return cleaned
    return meta


def _deep_clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): _deep_clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_clean(v) for v in value]
    return value
