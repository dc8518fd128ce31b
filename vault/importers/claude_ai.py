"""claude.ai exports to sessions: the bulk `conversations.json` list (from Settings → Export
data, or its zip) and the single-conversation web-app shape (`{uuid, name, chat_messages}`).

One conversation becomes the session `claude-<uuid>`; each of its `chat_messages`, in
order, one message with the message's `uuid`. Text comes from the content blocks (else the
flat `text` field); `thinking` blocks go to metadata `thinking`; `tool_use` blocks to
`toolCalls`, with the matching `tool_result` of the same message as each call's `result`;
attachments' extracted text is appended to the content under a `[Attachment: name]` line,
and attachment and file names are kept in metadata.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .common import (
    MessageDraft,
    SessionDraft,
    Skip,
    cap_json,
    finalise,
    first_line_title,
    message_id,
    normalise_ts,
    session_id,
)
from .sources import ExportStream, export_items

__all__ = ("SOURCE", "conversation_session", "export_sessions")

SOURCE = "claude-ai"
_ROLES = {"human": "user", "user": "user", "assistant": "assistant"}


def export_sessions(
    export: ExportStream, imported_at: str, skipped: list[Skip]
) -> Iterator[SessionDraft]:
    """The sessions of one export document, in file order; problems go to `skipped`."""
    for label, value in export_items(export, skipped):
        draft = conversation_session(value, label, imported_at, skipped)
        if draft is not None:
            yield draft


def conversation_session(
    conv: object, label: str, imported_at: str, skipped: list[Skip]
) -> SessionDraft | None:
    """One conversation object to a session draft (None, with a reason, if it is not one)."""
    if not isinstance(conv, dict):
        skipped.append((label, "not a conversation object"))
        return None
    chat = conv.get("chat_messages")
    uuid = conv.get("uuid")
    if not isinstance(chat, list):
        hint = " (looks like a ChatGPT export)" if "mapping" in conv else ""
        skipped.append((label, f"not a claude.ai conversation: no chat_messages{hint}"))
        return None
    if not isinstance(uuid, str) or not uuid:
        skipped.append((label, "claude.ai conversation without a uuid"))
        return None
    where = f"{label} ({uuid})"
    drafts: list[MessageDraft] = []
    seen: set[str] = set()
    for n, raw in enumerate(chat):
        draft = _message(raw, f"{where} message {n}", seen, skipped)
        if draft is not None:
            drafts.append(draft)
    created = normalise_ts(conv.get("created_at")) or next(
        (d.ts for d in drafts if d.ts), imported_at
    )
    messages, bad = finalise(drafts, created)
    skipped.extend((f"{where} message {what}", why) for what, why in bad)
    if not messages:
        skipped.append((where, "conversation has no messages"))
        return None
    title = str(conv.get("name") or "") or first_line_title(str(conv.get("summary") or ""))
    if not title:
        title = next((first_line_title(m.content) for m in messages if m.role == "user"), "")
    meta: dict[str, Any] = {}
    for key, name in (
        ("model", "model"),
        ("summary", "summary"),
        ("project_uuid", "projectUuid"),
        ("current_leaf_message_uuid", "currentLeafMessageUuid"),
        ("updated_at", "updatedAt"),
    ):
        if isinstance(conv.get(key), str) and conv[key]:
            meta[name] = conv[key]
    account = conv.get("account")
    if isinstance(account, dict) and isinstance(account.get("uuid"), str):
        meta["accountUuid"] = account["uuid"]
    fields = {
        "title": title or f"claude.ai conversation {uuid}",
        "created": created,
        "source": SOURCE,
        "source_id": uuid,
        "source_path": label.rsplit(" item ", 1)[0],
        "imported_at": imported_at,
        "metadata": meta,
    }
    return SessionDraft(session_id("claude-", uuid), fields, messages, where)


def _message(raw: object, where: str, seen: set[str], skipped: list[Skip]) -> MessageDraft | None:
    if not isinstance(raw, dict):
        skipped.append((where, "not a message object"))
        return None
    uuid = raw.get("uuid")
    if not isinstance(uuid, str) or not uuid:
        skipped.append((where, "message without a uuid"))
        return None
    if uuid in seen:
        skipped.append((where, f"duplicate message uuid {uuid}"))
        return None
    role = _ROLES.get(str(raw.get("sender")))
    if role is None:
        skipped.append((where, f"unknown sender {raw.get('sender')!r}"))
        return None
    seen.add(uuid)
    meta: dict[str, Any] = {}
    text = _content(raw.get("content"), meta)
    if not text and "toolCalls" not in meta and isinstance(raw.get("text"), str):
        text = raw["text"]
    text += _attachments(raw, meta)
    if isinstance(raw.get("parent_message_uuid"), str):
        meta["parentMessageUuid"] = raw["parent_message_uuid"]
    if isinstance(raw.get("stop_reason"), str):
        meta["stopReason"] = raw["stop_reason"]
    ts = normalise_ts(raw.get("created_at"))
    return MessageDraft(message_id(uuid), role, text, ts, meta)


def _content(blocks: object, meta: dict[str, Any]) -> str:
    if not isinstance(blocks, list):
        return ""
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    results: dict[str, str] = {}
    other: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            if isinstance(block, str):
                texts.append(block)
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking":
            thinking.append(str(block.get("thinking") or ""))
        elif kind == "tool_use":
            calls.append(
                {
                    "name": str(block.get("name") or ""),
                    "arguments": cap_json(block.get("input")),
                    "id": block.get("id"),
                }
            )
        elif kind == "tool_result":
            results[str(block.get("tool_use_id"))] = _result_text(block.get("content"))
        elif isinstance(block.get("text"), str):
            texts.append(block["text"])
        else:
            other.append(str(kind))
    for call in calls:
        if str(call["id"]) in results:
            call["result"] = results.pop(str(call["id"]))
    if thinking:
        meta["thinking"] = "\n\n".join(thinking)
    if calls:
        meta["toolCalls"] = calls
    if results:
        meta["toolResults"] = [{"id": k, "result": v} for k, v in results.items()]
    if other:
        meta["otherBlocks"] = other
    return "".join(texts)


def _result_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(b["text"])
            if isinstance(b, dict) and isinstance(b.get("text"), str)
            else json.dumps(b, ensure_ascii=False)
            for b in content
        ]
        return "\n\n".join(parts)
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def _attachments(raw: dict[str, Any], meta: dict[str, Any]) -> str:
    """Extracted attachment text for the content, and file names for metadata."""
    extra: list[str] = []
    kept: list[dict[str, Any]] = []
    for att in raw.get("attachments") or []:
        if not isinstance(att, dict):
            continue
        name = str(att.get("file_name") or "attachment")
        kept.append({k: att[k] for k in ("file_name", "file_type", "file_size") if k in att})
        body = att.get("extracted_content")
        if isinstance(body, str) and body:
            extra.append(f"\n\n[Attachment: {name}]\n{body}")
    files: list[dict[str, Any]] = []
    for key in ("files", "files_v2"):
        for item in raw.get(key) or []:
            if isinstance(item, dict):
                entry = {k: item[k] for k in ("file_name", "file_kind", "file_uuid") if k in item}
                if entry and entry not in files:
                    files.append(entry)
    if kept:
        meta["attachments"] = kept
    if files:
        meta["files"] = files
        extra.extend(
            f"\n\n[File: {f.get('file_name', '?')} ({f.get('file_kind', 'file')})]" for f in files
        )
    return "".join(extra)
