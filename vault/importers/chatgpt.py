"""ChatGPT `conversations.json` (a list, one conversation object, or the export zip) to sessions.

A conversation's `mapping` is a tree. The path from the root to `current_node` is the
session `chatgpt-<id>`; every other leaf's path, from where it leaves the nodes already
placed, becomes a sibling session `chatgpt-<id>-branch-<first node>` whose metadata names
the branch point (`branchPoint`, `branchPointSession`, `branchOf`). Every node with a
message is in exactly one session, once. Nodes without a message (the null root) are not
messages. A dangling parent makes its node a root; a missing `current_node` falls back to
the latest leaf.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .common import (
    MessageDraft,
    SessionDraft,
    Skip,
    finalise,
    first_line_title,
    message_id,
    normalise_ts,
    session_id,
)
from .sources import ExportStream, export_items

__all__ = ("SOURCE", "conversation_sessions", "export_sessions", "render_content")

SOURCE = "chatgpt"
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "tool": "tool"}


def export_sessions(
    export: ExportStream, imported_at: str, skipped: list[Skip]
) -> Iterator[SessionDraft]:
    for label, value in export_items(export, skipped):
        yield from conversation_sessions(value, label, export.label, imported_at, skipped)


def conversation_sessions(
    conv: object, label: str, source_path: str, imported_at: str, skipped: list[Skip]
) -> list[SessionDraft]:
    """The main-branch session and the sibling branch sessions of one conversation."""
    if not isinstance(conv, dict):
        skipped.append((label, "not a conversation object"))
        return []
    conv_id = conv.get("conversation_id") or conv.get("id")
    mapping = conv.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        if "chat_messages" in conv:
            why = "not a ChatGPT conversation (looks like a claude.ai export)"
        elif "conversations" in conv:
            why = "not a ChatGPT conversation (looks like ShareGPT)"
        else:
            why = "conversation has no mapping (corrupted entry)"
        skipped.append((f"{label} ({conv_id})" if conv_id else label, why))
        return []
    if not isinstance(conv_id, str | int) or isinstance(conv_id, bool) or conv_id == "":
        skipped.append((label, "ChatGPT conversation without an id"))
        return []
    where = f"{label} ({conv_id})"
    tree = _Tree(mapping, where, skipped)
    main_leaf = tree.main_leaf(conv.get("current_node"))
    title = str(conv.get("title") or "")
    created = normalise_ts(conv.get("create_time"))
    main_id = session_id("chatgpt-", conv_id)
    placed: dict[str, str] = {}
    out: list[SessionDraft] = []
    branches = [main_leaf] + [leaf for leaf in tree.leaves() if leaf != main_leaf]
    for leaf in branches:
        path = tree.path(leaf)
        start = next((i for i, node in enumerate(path) if node not in placed), None)
        if start is None:
            continue
        new = path[start:]
        sid = (
            main_id
            if leaf == main_leaf
            else session_id(
                "chatgpt-", conv_id, "-branch-" + message_id(new[0])[:50].replace("..", "-")
            )
        )
        for node in new:
            placed[node] = sid
        drafts = [d for node in new if (d := tree.draft(node)) is not None]
        messages, bad = finalise(drafts, created or imported_at)
        skipped.extend((f"{where} node {what}", why) for what, why in bad)
        if not messages:
            continue
        meta: dict[str, Any] = {}
        if isinstance(conv.get("default_model_slug"), str):
            meta["model"] = conv["default_model_slug"]
        branch_title = title or next(
            (first_line_title(m.content) for m in messages if m.role == "user"), ""
        )
        if sid == main_id:
            meta["currentNode"] = leaf
        else:
            point = path[start - 1] if start else None
            meta.update(
                branchOf=main_id, branchPoint=point, branchPointSession=placed.get(point or "")
            )
            branch_title = f"{branch_title or 'ChatGPT conversation'} (branch {len(out)})"
        fields = {
            "title": branch_title or f"ChatGPT conversation {conv_id}",
            "created": created or messages[0].created_at,
            "source": SOURCE,
            "source_id": str(conv_id),
            "source_path": source_path,
            "imported_at": imported_at,
            "metadata": meta,
        }
        out.append(SessionDraft(sid, fields, messages, where))
    if not out:
        skipped.append((where, "conversation has no messages"))
    return out


class _Tree:
    def __init__(self, mapping: dict[str, Any], where: str, skipped: list[Skip]) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        for key, node in mapping.items():
            if isinstance(node, dict):
                self.nodes[str(key)] = node
            else:
                skipped.append((f"{where} node {key}", "not a node object"))
        self.children: dict[str, list[str]] = {k: [] for k in self.nodes}
        roots: list[str] = []
        for key, node in self.nodes.items():
            parent = node.get("parent")
            if isinstance(parent, str) and parent in self.nodes and parent != key:
                self.children[parent].append(key)
            else:
                roots.append(key)
        for key, kids in self.children.items():
            listed = self.nodes[key].get("children")
            rank = {c: i for i, c in enumerate(listed)} if isinstance(listed, list) else {}
            kids.sort(key=lambda c: rank.get(c, len(rank)))
        self.order: list[str] = []
        seen: set[str] = set()
        stack = list(reversed(roots))
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen.add(key)
            self.order.append(key)
            stack.extend(reversed(self.children[key]))
        for key in self.nodes:
            if key not in seen:
                skipped.append((f"{where} node {key}", "unreachable (a cycle in the mapping)"))

    def leaves(self) -> list[str]:
        return [k for k in self.order if not self.children[k]]

    def main_leaf(self, current: object) -> str:
        if isinstance(current, str) and current in self.nodes and current in self.order:
            return current
        leaves = self.leaves() or self.order
        rank = {k: i for i, k in enumerate(self.order)}
        return max(leaves, key=lambda k: (self._time(k), rank[k]))

    def path(self, leaf: str) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        key: str | None = leaf
        while key is not None and key not in seen:
            seen.add(key)
            out.append(key)
            parent = self.nodes[key].get("parent")
            key = parent if isinstance(parent, str) and parent in self.nodes else None
        return out[::-1]

    def draft(self, key: str) -> MessageDraft | None:
        msg = self.nodes[key].get("message")
        if not isinstance(msg, dict):
            return None
        author = msg.get("author") if isinstance(msg.get("author"), dict) else {}
        assert isinstance(author, dict)
        content = msg.get("content") if isinstance(msg.get("content"), dict) else {}
        assert isinstance(content, dict)
        extra = msg.get("metadata") if isinstance(msg.get("metadata"), dict) else {}
        assert isinstance(extra, dict)
        kind = content.get("content_type")
        role = _ROLES.get(str(author.get("role")), "system")
        text = render_content(content)
        meta: dict[str, Any] = {"contentType": kind}
        hidden = bool(extra.get("is_visually_hidden_from_conversation"))
        if kind == "user_editable_context" or extra.get("is_user_system_message"):
            role, hidden = "system", True
        if role == "system" and not text.strip():
            hidden = True
        if hidden:
            meta["hidden"] = True
        if author.get("role") not in _ROLES:
            meta["authorRole"] = author.get("role")
        for name, value in (
            ("author", author.get("name")),
            ("model", extra.get("model_slug")),
            ("recipient", msg.get("recipient")),
            ("channel", msg.get("channel")),
            ("status", msg.get("status")),
        ):
            if isinstance(value, str) and value not in ("all", "finished_successfully"):
                meta[name] = value
        if role == "tool" and isinstance(author.get("name"), str) and author["name"]:
            meta["toolName"] = author["name"]  # the tool this result comes from
        finish = extra.get("finish_details")
        if isinstance(finish, dict) and finish.get("type") == "interrupted":
            meta["interrupted"] = True
        ts = normalise_ts(msg.get("create_time")) or normalise_ts(msg.get("update_time"))
        return MessageDraft(message_id(key), role, text, ts, meta)

    def _time(self, key: str) -> float:
        msg = self.nodes[key].get("message")
        value = msg.get("create_time") if isinstance(msg, dict) else None
        return float(value) if isinstance(value, int | float) else 0.0


def render_content(content: dict[str, Any]) -> str:
    """Readable text for any ChatGPT content type (images become `[image: <asset>]`)."""
    kind = content.get("content_type")
    text = content.get("text")
    if kind == "code" and isinstance(text, str):
        language = content.get("language")
        lang = language if isinstance(language, str) and language != "unknown" else ""
        return f"```{lang}\n{text}\n```"
    if kind == "tether_quote":
        head = [str(content[k]) for k in ("title", "url") if content.get(k)]
        return "\n".join([*head, "", str(text or "")]) if head else str(text or "")
    if kind == "tether_browsing_display":
        parts = [str(content[k]) for k in ("result", "summary") if content.get(k)]
        return "\n\n".join(parts)
    if kind == "thoughts" and isinstance(content.get("thoughts"), list):
        out = []
        for thought in content["thoughts"]:
            if isinstance(thought, dict):
                summary, body = thought.get("summary") or "", thought.get("content") or ""
                out.append(f"**{summary}**\n{body}".rstrip() if summary else str(body))
        return "\n\n".join(out)
    if kind == "user_editable_context":
        pairs = (("user_profile", "User profile"), ("user_instructions", "User instructions"))
        return "\n\n".join(f"{name}:\n{content[k]}" for k, name in pairs if content.get(k))
    if kind == "system_error":
        return f"{content.get('name') or 'Error'}: {text or ''}"
    if isinstance(content.get("parts"), list):
        return "\n".join(_part(p) for p in content["parts"])
    if isinstance(text, str):
        return text
    if isinstance(content.get("content"), str):
        return str(content["content"])
    rest = {k: v for k, v in content.items() if k != "content_type"}
    return json.dumps(rest, ensure_ascii=False) if rest else ""


def _part(part: object) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return json.dumps(part, ensure_ascii=False)
    kind = part.get("content_type")
    if kind == "image_asset_pointer":
        size = (
            f" {part['width']}x{part['height']}" if part.get("width") and part.get("height") else ""
        )
        return f"[image: {part.get('asset_pointer') or '?'}{size}]"
    if kind == "audio_transcription" and isinstance(part.get("text"), str):
        return str(part["text"])
    if isinstance(part.get("asset_pointer"), str):
        return f"[{kind or 'asset'}: {part['asset_pointer']}]"
    if isinstance(part.get("text"), str):
        return str(part["text"])
    return f"[{kind or 'part'}]"
