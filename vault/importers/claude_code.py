"""Claude Code transcripts (`~/.claude/projects/<project>/<session>.jsonl`) to sessions.

Read line by line. Each `user`/`assistant` record becomes one message whose id is the
record's `uuid`; each `tool_result` block becomes its own `tool` message `<uuid>-r<n>`.
Claude Code splits one API reply into several records (one per content block, same
`message.id`): they stay separate messages, so a transcript that grows mid-reply only ever
appends (`apiMessageId` in metadata groups them; `tokens` sit on the first record of a
reply, as Claude Code repeats the same usage on each). See docs/import.md for the rest.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import NOISE, MessageDraft, Skip, cap_json, first_line_title, message_id, session_id
from .common import normalise_ts as ts_of

__all__ = ("Transcript", "cc_session_id", "read_transcript")

SOURCE = "claude-code"
_NOISE_TYPES = {"progress", "file-history-snapshot", "queue-operation"}
_CONTEXT_KEYS = (("cwd", "cwd"), ("gitBranch", "gitBranch"), ("version", "version"))
_NOT_TITLES = ("<", "Caveat:", "[Request interrupted")


@dataclass
class Transcript:
    """What one transcript file holds, mapped to message drafts plus linking facts."""

    path: Path
    drafts: list[MessageDraft] = field(default_factory=list)
    sidechains: dict[str, list[MessageDraft]] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    titles: list[tuple[int, str]] = field(default_factory=list)
    agent_tool_use: dict[str, str] = field(default_factory=dict)
    tool_calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    compactions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first_ts(self) -> str | None:
        return next((d.ts for d in self.drafts if d.ts), None)

    def title(self) -> str:
        """The last custom title or summary record, else the first real user prompt."""
        if self.titles:
            return self.titles[-1][1]
        users = [d for d in self.drafts if d.role == "user" and not d.metadata.get("meta")]
        for draft in users:
            text = first_line_title(draft.content)
            if text and not text.startswith(_NOT_TITLES):
                return text
        return next((t for d in users if (t := first_line_title(d.content))), "")


def cc_session_id(stem: str, agent: str | None = None) -> str:
    """`cc-<session uuid>`, or `cc-<session uuid>-agent-<agent id>` for a subagent."""
    if agent is None:
        return session_id("cc-", stem)
    return session_id("cc-", stem, "-agent-" + message_id(agent)[:40].replace("..", "-"))


def read_transcript(path: Path, *, subagent: bool = False) -> Transcript:
    """Stream one transcript. Bad lines, unknown record types and records that are not
    messages are reported in `skipped` (the last by type, with their count)."""
    reader = _Reader(Transcript(path), subagent)
    where = str(path)
    with open(path, "rb") as lines:
        for lineno, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:
                reason = (
                    "incomplete last line (still being written?)"
                    if not raw.endswith(b"\n")
                    else f"malformed JSON: {exc}"
                )
                reader.t.skipped.append((f"{where}:{lineno}", reason))
                continue
            if not isinstance(record, dict):
                reader.t.skipped.append((f"{where}:{lineno}", "not a JSON object"))
                continue
            reader.record(record, lineno)
    reader.finish()
    return reader.t


class _Reader:
    def __init__(self, transcript: Transcript, subagent: bool) -> None:
        self.t = transcript
        self.subagent = subagent
        self.seen: set[str] = set()
        self.reply_ids: set[str] = set()
        self.noise: Counter[str] = Counter()
        self.unknown: dict[str, list[int]] = {}
        self.summaries: list[tuple[int, str, object]] = []
        self.context: dict[str, Any] = {}

    def record(self, rec: dict[str, Any], line: int) -> None:
        kind = rec.get("type")
        if kind in ("user", "assistant"):
            self.message(rec, line, kind)
        elif kind == "system":
            if isinstance(rec.get("content"), str) and rec["content"]:
                self.system(rec, line)
            else:
                self.noise[f"system:{rec.get('subtype')}"] += 1
        elif kind == "summary" and isinstance(rec.get("summary"), str):
            self.summaries.append((line, rec["summary"], rec.get("leafUuid")))
        elif kind == "custom-title" and isinstance(rec.get("customTitle"), str):
            self.t.titles.append((line, rec["customTitle"]))
        elif kind in _NOISE_TYPES:
            data = rec.get("data")
            sub = data.get("type") if isinstance(data, dict) else None
            self.noise[f"{kind}:{sub}" if sub else str(kind)] += 1
            if isinstance(data, dict) and sub == "agent_progress":
                agent, use = data.get("agentId"), rec.get("parentToolUseID")
                if isinstance(agent, str) and isinstance(use, str):
                    self.t.agent_tool_use.setdefault(agent, use)
        else:
            self.unknown.setdefault(repr(kind), []).append(line)

    # -------------------------------------------------------------- records

    def message(self, rec: dict[str, Any], line: int, kind: str) -> None:
        where = f"{self.t.path}:{line}"
        msg, uuid = rec.get("message"), rec.get("uuid")
        if not isinstance(msg, dict):
            self.t.skipped.append((where, f"{kind} record without a message object"))
            return
        if not isinstance(uuid, str) or not uuid:
            self.t.skipped.append((where, f"{kind} record without a uuid"))
            return
        if uuid in self.seen:
            self.t.skipped.append((where, f"duplicate uuid {uuid}"))
            return
        content = msg.get("content")
        if not isinstance(content, str | list):
            self.t.skipped.append((where, f"{kind} message without content"))
            return
        if isinstance(content, list) and not content:
            self.t.skipped.append((where, f"empty {kind} message"))
            return
        if kind == "assistant" and _blank(content):
            # A reply's record holding only blank text ("\n\n" before its thinking): no
            # message, which would show as an empty heading. The reply's usage, repeated on
            # each of its records, goes on its next record, which is then its first.
            self.noise["assistant:blank text"] += 1
            return
        self.seen.add(uuid)
        meta = self.learn(rec)
        drafts = (
            self.user(rec, content, uuid, meta)
            if kind == "user"
            else [self.assistant(rec, msg, content, uuid, meta)]
        )
        for draft in drafts:
            draft.line = line
        self.target(rec).extend(drafts)

    def user(
        self, rec: dict[str, Any], content: str | list[Any], uuid: str, meta: dict[str, Any]
    ) -> list[MessageDraft]:
        ts = ts_of(rec.get("timestamp"))
        role = "user"
        if rec.get("isCompactSummary"):
            role = "system"
            meta["compactSummary"] = True
            pending = [c for c in self.t.compactions if c.get("summary") is None]
            if pending:
                pending[-1]["summary"] = message_id(uuid)
        if rec.get("isMeta"):
            meta["meta"] = True
        if isinstance(content, str):
            return [MessageDraft(message_id(uuid), role, content, ts, meta)]
        out: list[MessageDraft] = []
        texts: list[str] = []
        text_at: int | None = None
        results = 0
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                results += 1
                out.append(self.tool_result(rec, block, uuid, results, ts))
                continue
            if text_at is None:
                text_at = len(out)
            texts.append(_block_text(block))
        if text_at is not None:
            text = MessageDraft(message_id(uuid), role, "\n\n".join(texts), ts, meta)
            out.insert(text_at, text)
        elif meta and out:
            out[0].metadata.update(meta)
        return out

    def tool_result(
        self, rec: dict[str, Any], block: dict[str, Any], uuid: str, n: int, ts: str | None
    ) -> MessageDraft:
        use_id = block.get("tool_use_id")
        meta: dict[str, Any] = {"toolUseId": use_id}
        call = self.t.tool_calls.get(use_id) if isinstance(use_id, str) else None
        if call is not None:
            meta["toolName"] = call["name"]
        if block.get("is_error"):
            meta["isError"] = True
        extra = rec.get("toolUseResult")
        agent = extra.get("agentId") if isinstance(extra, dict) else None
        if isinstance(agent, str) and isinstance(use_id, str):
            self.t.agent_tool_use[agent] = use_id
            meta["agentId"] = agent
            meta["subagentSession"] = cc_session_id(self.t.path.stem, agent)
        body = block.get("content")
        if isinstance(body, list):
            text = "\n\n".join(_block_text(b) for b in body)
        else:
            text = body if isinstance(body, str) else "" if body is None else json.dumps(body)
        return MessageDraft(message_id(uuid, f"-r{n}"), "tool", text, ts, meta)

    def assistant(
        self,
        rec: dict[str, Any],
        msg: dict[str, Any],
        content: str | list[Any],
        uuid: str,
        meta: dict[str, Any],
    ) -> MessageDraft:
        texts: list[str] = []
        thinking: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in [content] if isinstance(content, str) else content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "thinking" and isinstance(block, dict):
                thinking.append(str(block.get("thinking") or ""))
            elif kind == "redacted_thinking":
                thinking.append("[redacted thinking]")
            elif kind in ("tool_use", "server_tool_use") and isinstance(block, dict):
                call = {
                    "name": str(block.get("name") or ""),
                    "arguments": cap_json(block.get("input")),
                    "id": block.get("id"),
                }
                calls.append(call)
                if isinstance(call["id"], str):
                    self.t.tool_calls[call["id"]] = {
                        "name": call["name"],
                        "input": block.get("input"),
                    }
            else:
                texts.append(_block_text(block))
        for key, value in (("model", msg.get("model")), ("apiMessageId", msg.get("id"))):
            if isinstance(value, str):
                meta[key] = value
        reply = msg.get("id")
        usage = msg.get("usage")
        if isinstance(usage, dict) and (not isinstance(reply, str) or reply not in self.reply_ids):
            meta["tokens"] = _tokens(usage)
        if isinstance(reply, str):
            self.reply_ids.add(reply)
        if isinstance(msg.get("stop_reason"), str):
            meta["stopReason"] = msg["stop_reason"]
        if rec.get("isApiErrorMessage"):
            meta["error"] = True
        if thinking:
            meta["thinking"] = "\n\n".join(thinking)
        if calls:
            meta["toolCalls"] = calls
        if "model" in meta:
            self.t.info.setdefault("model", meta["model"])
        ts = ts_of(rec.get("timestamp"))
        return MessageDraft(message_id(uuid), "assistant", "\n\n".join(texts), ts, meta)

    def system(self, rec: dict[str, Any], line: int) -> None:
        uuid = rec.get("uuid")
        where = f"{self.t.path}:{line}"
        if not isinstance(uuid, str) or not uuid or uuid in self.seen:
            self.t.skipped.append((where, "system record without a (unique) uuid"))
            return
        self.seen.add(uuid)
        meta = self.learn(rec)
        meta["subtype"] = rec.get("subtype")
        for key in ("level", "compactMetadata", "logicalParentUuid"):
            if rec.get(key) is not None:
                meta[key] = rec[key]
        ts = ts_of(rec.get("timestamp"))
        if rec.get("subtype") == "compact_boundary":
            self.t.compactions.append({"ts": ts, "boundary": message_id(uuid), "summary": None})
        draft = MessageDraft(message_id(uuid), "system", rec["content"], ts, meta, line)
        self.target(rec).append(draft)

    # -------------------------------------------------------------- helpers

    def target(self, rec: dict[str, Any]) -> list[MessageDraft]:
        if self.subagent or not rec.get("isSidechain"):
            return self.t.drafts
        agent = rec.get("agentId")
        return self.t.sidechains.setdefault(agent if isinstance(agent, str) else "sidechain", [])

    def learn(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Session facts (cwd, branch, version) go in the frontmatter from the first record;
        a later change is recorded in the metadata of the message that shows it."""
        meta: dict[str, Any] = {}
        if not self.t.info and isinstance(rec.get("sessionId"), str):
            self.t.info["sessionId"] = rec["sessionId"]
        for key, name in _CONTEXT_KEYS:
            value = rec.get(key)
            if not isinstance(value, str) or not value:
                continue
            if key not in self.context:
                self.t.info.setdefault(name, value)
            elif self.context[key] != value:
                meta[name] = value
            self.context[key] = value
        if isinstance(rec.get("slug"), str):
            self.t.info.setdefault("slug", rec["slug"])
        return meta

    def finish(self) -> None:
        for line, summary, leaf in self.summaries:
            if leaf is None or leaf in self.seen:
                self.t.titles.append((line, summary))
        self.t.titles.sort()
        first_line = self.t.drafts[0].line if self.t.drafts else 0
        for line, title in self.t.titles:
            if line > first_line:
                later = next((d for d in self.t.drafts if d.line > line), None)
                if later is not None:
                    later.metadata["sessionTitle"] = title
        where = str(self.t.path)
        for kind, count in sorted(self.noise.items()):
            self.t.skipped.append((where, f"{count} {kind} record(s) {NOISE}"))
        for kind, lines in self.unknown.items():
            self.t.skipped.append(
                (f"{where}:{lines[0]}", f"unknown record type {kind} ({len(lines)} record(s))")
            )


def _blank(content: str | list[Any]) -> bool:
    """Only text, and only blanks: nothing a reader could see."""
    blocks = [content] if isinstance(content, str) else content
    return all(
        (isinstance(b, str) and not b.strip())
        or (
            isinstance(b, dict)
            and b.get("type") == "text"
            and isinstance(b.get("text"), str)
            and not b["text"].strip()
        )
        for b in blocks
    )


def _block_text(block: object) -> str:
    """Readable text of a content block that is not a tool call or result."""
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return json.dumps(block, ensure_ascii=False)
    kind = block.get("type")
    if isinstance(block.get("text"), str):
        return str(block["text"])
    source = block.get("source")
    if kind in ("image", "document") and isinstance(source, dict):
        label = source.get("media_type") or source.get("type") or "?"
        title = block.get("title")
        return f"[{kind}: {title or label}]"
    return f"[{kind}]"


def _tokens(usage: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, name in (
        ("input_tokens", "input"),
        ("output_tokens", "output"),
        ("cache_read_input_tokens", "cacheRead"),
        ("cache_creation_input_tokens", "cacheCreation"),
    ):
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            out[name] = value
    return out
