"""Turning a caller's conversation into messages: seed 003's input rules.

- `format="plain"`: a string; speaker prefixes (`User:`, `Human:`, `Assistant:`, `AI:`,
  `System:`, `Tool:`) at line starts split it into messages; text without any prefix is one
  user message.
- `format="messages"`: a list of `{role, content}`; content that is not a string is kept
  as JSON text.
- Over 10 MB is refused before anything is written; over 1 MB is cut at a character
  boundary with the warning `Conversation truncated to 1MB`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import InvalidInput, VaultWarning
from .paths import MAX_TOPIC_CHARS, slugify
from .session_file import ROLES, Message, check_timestamp, format_ts, render_message
from .ulid import new_message_id
from .write_check import check_json_value

__all__ = (
    "MAX_CONVERSATION_BYTES",
    "TRUNCATE_BYTES",
    "Draft",
    "Topic",
    "check_content",
    "check_role",
    "choose_topic",
    "new_message",
    "normalise_conversation",
)

MAX_CONVERSATION_BYTES = 10 * 1024 * 1024
TRUNCATE_BYTES = 1024 * 1024
TRUNCATED_WARNING = VaultWarning("TRUNCATED", "Conversation truncated to 1MB")
EMPTY_WARNING = VaultWarning("EMPTY_CONVERSATION", "Conversation is empty")

_ROLE_ALIASES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
}
_SPEAKER = re.compile(r"^(user|human|assistant|ai|system|tool)[ \t]*:[ \t]?", re.IGNORECASE)
_MARKUP = re.compile(r"[#>*_`~\[\]()|]+")


@dataclass(frozen=True)
class Draft:
    """A message before it gets an id and a time."""

    role: str
    content: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Topic:
    title: str
    slug: str
    warning: VaultWarning | None = None


def check_role(value: object, field: str = "role") -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"'{field}' must be a string", field=field)
    role = _ROLE_ALIASES.get(value.strip().lower())
    if role is None:
        allowed = ", ".join(ROLES)
        raise InvalidInput(f"'{field}' must be one of {allowed}, not {value!r}", field=field)
    return role


def check_content(value: object, field: str = "content") -> str:
    """A message's text: a string that encodes as UTF-8 (no lone surrogates)."""
    if not isinstance(value, str):
        raise InvalidInput(f"'{field}' must be a string", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"'{field}' holds an unpaired surrogate at character {exc.start}", field=field
        ) from exc
    return value


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def cut_utf8(text: str, limit: int) -> str:
    """The longest prefix of `text` whose UTF-8 form fits in `limit` bytes."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def new_message(
    role: object,
    content: object,
    metadata: dict[str, Any] | None,
    *,
    message_id: str | None,
    created_at: str | None,
    now: datetime,
    max_bytes: int = MAX_CONVERSATION_BYTES,
) -> tuple[Message, list[VaultWarning]]:
    """One message to append, checked before any I/O: over `max_bytes` is refused, over
    1 MB cut (`metadata.truncated`, warning `Message truncated to 1MB`); the id is
    generated unless given, the time is `now` unless given."""
    role = check_role(role)
    text = check_content(content)
    if created_at is not None:
        check_timestamp(created_at, "created_at")
    warnings: list[VaultWarning] = []
    size = utf8_len(text)
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidInput("'metadata' must be an object", field="metadata")
    check_json_value(metadata, "metadata")
    meta = dict(metadata or {})
    if size > max_bytes:
        raise InvalidInput(f"'content' is {size} bytes; the limit is 10MB", field="content")
    if size > TRUNCATE_BYTES:
        text = cut_utf8(text, TRUNCATE_BYTES)
        meta["truncated"] = True
        warnings.append(VaultWarning("TRUNCATED", "Message truncated to 1MB"))
    message = Message(
        id=message_id or new_message_id(),
        role=role,
        content=text,
        created_at=created_at or format_ts(now),
        metadata=meta,
    )
    render_message(message)  # validates id and content
    return message, warnings


def normalise_conversation(
    conversation: object, fmt: str | None
) -> tuple[list[Draft], bool, list[VaultWarning]]:
    """Validate and split a conversation; returns (drafts, truncated, warnings)."""
    if fmt is not None and fmt not in ("plain", "messages"):
        raise InvalidInput('\'format\' must be "plain" or "messages"', field="format")
    if conversation is None:
        raise InvalidInput("'conversation' is required", field="conversation")
    if isinstance(conversation, str):
        if fmt == "messages":
            raise InvalidInput(
                "'conversation' must be an array of messages when format is \"messages\"",
                field="conversation",
            )
        return _plain(conversation)
    if isinstance(conversation, list):
        if fmt == "plain":
            raise InvalidInput(
                "'conversation' must be a string when format is \"plain\"", field="conversation"
            )
        return _messages(conversation)
    raise InvalidInput(
        "'conversation' must be a string or an array of messages", field="conversation"
    )


def _plain(text: str) -> tuple[list[Draft], bool, list[VaultWarning]]:
    check_content(text, "conversation")
    if not text.strip():
        raise InvalidInput("Conversation cannot be empty", field="conversation")
    size = utf8_len(text)
    if size > MAX_CONVERSATION_BYTES:
        raise InvalidInput(f"Conversation is {size} bytes; the limit is 10MB", field="conversation")
    warnings: list[VaultWarning] = []
    truncated = size > TRUNCATE_BYTES
    if truncated:
        text = cut_utf8(text, TRUNCATE_BYTES)
        warnings.append(TRUNCATED_WARNING)
    return split_plain(text), truncated, warnings


def split_plain(text: str) -> list[Draft]:
    """Split on speaker prefixes at line starts; text before the first prefix is the user's."""
    drafts: list[Draft] = []
    role: str | None = None
    lines: list[str] = []
    for line in text.split("\n"):
        m = _SPEAKER.match(line)
        if m:
            if role is not None or "".join(lines).strip():
                drafts.append(Draft(role or "user", _join(lines), {}))
            role = _ROLE_ALIASES[m.group(1).lower()]
            lines = [line[m.end() :]]
        else:
            lines.append(line)
    if role is not None or "".join(lines).strip():
        drafts.append(Draft(role or "user", _join(lines) if role else text, {}))
    return drafts


def _join(lines: list[str]) -> str:
    text = "\n".join(lines)
    return text.rstrip("\n").removesuffix("\r").rstrip("\n")


def _messages(items: list[Any]) -> tuple[list[Draft], bool, list[VaultWarning]]:
    drafts: list[Draft] = []
    for i, item in enumerate(items):
        where = f"conversation[{i}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"'{where}' must be an object with role and content", field=where)
        if "role" not in item:
            raise InvalidInput(f"'{where}.role' is required", field=f"{where}.role")
        role = check_role(item["role"], f"{where}.role")
        content = item.get("content", "")
        if content is None:
            content = ""
        if not isinstance(content, str):
            try:
                content = json.dumps(content, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"'{where}.content' cannot be kept as JSON", field=f"{where}.content"
                ) from exc
        check_content(content, f"{where}.content")
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidInput(f"'{where}.metadata' must be an object", field=f"{where}.metadata")
        check_json_value(metadata, f"{where}.metadata")
        drafts.append(Draft(role, content, metadata))
    total = sum(utf8_len(d.content) for d in drafts)
    if total > MAX_CONVERSATION_BYTES:
        raise InvalidInput(
            f"Conversation is {total} bytes; the limit is 10MB", field="conversation"
        )
    warnings: list[VaultWarning] = []
    if not drafts:
        warnings.append(EMPTY_WARNING)
    truncated = total > TRUNCATE_BYTES
    if truncated:
        drafts = _truncate(drafts)
        warnings.append(TRUNCATED_WARNING)
    return drafts, truncated, warnings


def _truncate(drafts: list[Draft]) -> list[Draft]:
    kept: list[Draft] = []
    budget = TRUNCATE_BYTES
    for draft in drafts:
        size = utf8_len(draft.content)
        if size <= budget:
            kept.append(draft)
            budget -= size
            continue
        if budget > 0:
            kept.append(Draft(draft.role, cut_utf8(draft.content, budget), draft.metadata))
        break
    return kept


def choose_topic(topic: object, drafts: list[Draft]) -> Topic:
    """The title and slug: from `topic` when given, else from the first user message.

    When nothing usable is left, the slug is `untitled` with seed 003's non-fatal
    `TOPIC_EXTRACTION_ERROR` warning.
    """
    if topic is not None and not isinstance(topic, str):
        raise InvalidInput("'topic' must be a string", field="topic")
    if topic is not None and topic.strip():
        check_content(topic, "topic")
        title = " ".join(topic.split())[:MAX_TOPIC_CHARS]
        slug = slugify(title)
        if slug:
            return Topic(title, slug)
        return Topic(title, "untitled", _topic_warning("the topic has no letters or digits"))
    title = extract_title(drafts)
    slug = slugify(title)
    if slug:
        return Topic(title, slug)
    return Topic(title, "untitled", _topic_warning("no topic could be extracted"))


def extract_title(drafts: list[Draft], words: int = 8) -> str:
    """The first non-empty line of the first user message (else any message), markup removed."""
    ordered = [d for d in drafts if d.role == "user"] + [d for d in drafts if d.role != "user"]
    for draft in ordered:
        for line in draft.content.splitlines():
            cleaned = " ".join(_MARKUP.sub(" ", line).split())
            if cleaned and slugify(cleaned):
                return " ".join(cleaned.split()[:words])[:MAX_TOPIC_CHARS]
    return ""


def _topic_warning(why: str) -> VaultWarning:
    return VaultWarning("TOPIC_EXTRACTION_ERROR", f"Topic fell back to 'untitled': {why}")
