"""Finding Claude Code transcripts and turning them into session drafts with their links.

A main transcript `<session>.jsonl` becomes `cc-<session>`; each of its subagent
transcripts `<session>/subagents/agent-<id>.jsonl` (and old-style `agent-<id>.jsonl` beside
it, or `isSidechain` records inside it) becomes `cc-<session>-agent-<id>`, whose
frontmatter names the parent session and the Task tool-use id (or, for `agent-acompact-*`,
the compaction). The parent learns the link from the Task result message, which carries
`subagentSession` in its metadata when written. See docs/import.md.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .claude_code import SOURCE, Transcript, cc_session_id, read_transcript
from .common import SessionDraft, Skip, finalise

__all__ = ("Group", "claude_projects_dir", "find_groups", "group_sessions", "project_folders")

_PEEK_LINES = 50


@dataclass
class Group:
    """A main transcript (read for links; imported if `import_main`) and its subagents."""

    stem: str
    main: Path | None
    import_main: bool
    subagents: list[Path] = field(default_factory=list)

    def files(self) -> list[Path]:
        main = [self.main] if self.main is not None and self.import_main else []
        return main + self.subagents


def claude_projects_dir() -> Path:
    """`$CLAUDE_CONFIG_DIR/projects`, else `~/.claude/projects`."""
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base).expanduser() if base else Path.home() / ".claude") / "projects"


def project_folders(root: Path, all_projects: bool, skipped: list[Skip]) -> list[Path]:
    """The Claude Code project folders of `root`: named after its path (`/` and `.`, or any
    non-alphanumeric character, replaced by `-`), or whose transcripts' `cwd` is `root`."""
    base = claude_projects_dir()
    folders = sorted(p for p in _listdir(base) if p.is_dir())
    if not folders:
        skipped.append((str(base), "no Claude Code projects folder"))
        return []
    if all_projects:
        return folders
    names = {re.sub(r"[/.]", "-", str(root)), re.sub(r"[^A-Za-z0-9]", "-", str(root))}
    found = [f for f in folders if f.name in names]
    for folder in folders:
        if folder not in found and any(
            _peek(t).get("cwd") == str(root) for t in sorted(folder.glob("*.jsonl"))[:3]
        ):
            found.append(folder)
    if not found:
        skipped.append((str(base), f"no Claude Code transcripts for {root}"))
    return found


def find_groups(paths: list[Path], skipped: list[Skip]) -> list[Group]:
    """Group transcript files and folders into main transcripts with their subagents."""
    groups: dict[str, Group] = {}
    for path in paths:
        if path.is_dir():
            files = sorted(path.glob("*.jsonl"))
            if not files:
                files = sorted(path.glob("*/*.jsonl"))
            if not files:
                skipped.append((str(path), "no .jsonl transcripts in this folder"))
            for file in files:
                _add_file(groups, file)
        elif path.is_file():
            if path.suffix != ".jsonl":
                skipped.append((str(path), "not a Claude Code transcript (.jsonl)"))
                continue
            _add_file(groups, path)
        else:
            skipped.append((str(path), "no such file or folder"))
    return list(groups.values())


def group_sessions(group: Group, imported_at: str, skipped: list[Skip]) -> Iterator[SessionDraft]:
    """The session drafts of a group: its main session (and sidechains), then subagents."""
    parent: Transcript | None = None
    if group.main is not None and group.main.is_file():
        parent = read_transcript(group.main)
        if group.import_main:
            skipped.extend(parent.skipped)
            yield _main_draft(parent, group.stem, imported_at, skipped)
            for agent, drafts in parent.sidechains.items():
                child = Transcript(parent.path, drafts=drafts, info=parent.info)
                yield _child_draft(child, parent, group.stem, agent, imported_at, skipped)
    for path in group.subagents:
        child = read_transcript(path, subagent=True)
        skipped.extend(child.skipped)
        agent = path.stem.removeprefix("agent-")
        yield _child_draft(child, parent, group.stem, agent, imported_at, skipped)


def _main_draft(t: Transcript, stem: str, imported_at: str, skipped: list[Skip]) -> SessionDraft:
    messages, bad = finalise(t.drafts, t.first_ts or imported_at)
    skipped.extend((f"{t.path} message {what}", why) for what, why in bad)
    meta: dict[str, Any] = {
        k: t.info[k]
        for k in ("sessionId", "cwd", "gitBranch", "version", "model", "slug")
        if k in t.info
    }
    fields = _fields(t, stem, t.title() or f"Claude Code session {stem}", imported_at, meta)
    return SessionDraft(cc_session_id(stem), fields, messages, str(t.path))


def _child_draft(
    t: Transcript,
    parent: Transcript | None,
    stem: str,
    agent: str,
    imported_at: str,
    skipped: list[Skip],
) -> SessionDraft:
    messages, bad = finalise(t.drafts, t.first_ts or imported_at)
    skipped.extend((f"{t.path} message {what}", why) for what, why in bad)
    compaction = agent.startswith("acompact")
    meta: dict[str, Any] = {
        "kind": "compaction" if compaction else "subagent",
        "parentSession": cc_session_id(stem),
        "agentId": agent,
    }
    meta.update(
        {k: t.info[k] for k in ("sessionId", "cwd", "gitBranch", "version", "model") if k in t.info}
    )
    title = t.title()
    if parent is not None and compaction:
        first = t.first_ts or ""
        found = next((c for c in parent.compactions if (c["ts"] or "") >= first), None)
        if found is not None:
            meta["compaction"] = found["summary"] or found["boundary"]
            meta["compactBoundary"] = found["boundary"]
        title = f"Compaction of {parent.title() or stem}"
    elif parent is not None:
        use = parent.agent_tool_use.get(agent)
        if use is not None:
            meta["parentToolUseId"] = use
            call_input = parent.tool_calls.get(use, {}).get("input")
            if isinstance(call_input, dict):
                for key, name in (
                    ("subagent_type", "subagentType"),
                    ("description", "description"),
                ):
                    if isinstance(call_input.get(key), str):
                        meta[name] = call_input[key]
                if isinstance(call_input.get("description"), str):
                    title = f"Subagent: {call_input['description']}"
    fields = _fields(t, f"{stem}/agent-{agent}", title or f"Subagent {agent}", imported_at, meta)
    return SessionDraft(cc_session_id(stem, agent), fields, messages, str(t.path))


def _fields(
    t: Transcript, source_id: str, title: str, imported_at: str, meta: dict[str, Any]
) -> dict[str, Any]:
    return {
        "title": title,
        "created": t.first_ts or imported_at,
        "source": SOURCE,
        "source_id": source_id,
        "source_path": str(t.path.resolve()),
        "imported_at": imported_at,
        "metadata": meta,
    }


def _add_file(groups: dict[str, Group], file: Path) -> None:
    if file.parent.name == "subagents":
        stem = file.parent.parent.name
        main = file.parent.parent.with_suffix(".jsonl")
        group = groups.setdefault(stem, Group(stem, main, False))
        if file not in group.subagents:
            group.subagents.append(file)
        return
    if file.stem.startswith("agent-"):
        parent_id = _peek(file).get("sessionId")
        stem = parent_id if isinstance(parent_id, str) and parent_id else file.stem
        group = groups.setdefault(stem, Group(stem, file.with_name(f"{stem}.jsonl"), False))
        group.subagents.append(file)
        return
    group = groups.setdefault(file.stem, Group(file.stem, file, True))
    group.main, group.import_main = file, True
    folder = file.with_suffix("") / "subagents"
    for sub in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        if sub not in group.subagents:
            group.subagents.append(sub)


def _peek(path: Path) -> dict[str, Any]:
    """The first record of a transcript that names a `sessionId` or `cwd` ({} if none)."""
    try:
        with open(path, "rb") as lines:
            for n, raw in enumerate(lines):
                if n >= _PEEK_LINES:
                    break
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(record, dict) and ("cwd" in record or "sessionId" in record):
                    return record
    except OSError:
        pass
    return {}


def _listdir(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []
