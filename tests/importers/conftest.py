"""Fixtures for the importer tests: real export files, a vault, a fixed clock, and
independent counts computed from the raw source files with simple code.

Small files come from tests/fixtures/ (same layout as ../shared/data). The two large Claude
Code sessions (MAIN_4D, MAIN_AE, with their subagents) and the claude.ai export whose licence
is not stated stay in ../shared/data: tests that read them are marked `shared_data`."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.data import FIXTURES, SHARED_DATA
from vault import SessionFile, Vault

DATA = FIXTURES
CC = DATA / "claude_code"
SPOTTER = CC / "marot-spotter"  # short.jsonl, subagent.jsonl, tool_heavy.jsonl
CLAUDE_AI = DATA / "claude_ai"
CHATGPT = DATA / "chatgpt"
BULK = CLAUDE_AI / "codearchitect-bulk-export" / "conversations.json"  # written for these tests

# shared_data only:
SPOTTER_FULL = SHARED_DATA / "claude_code" / "marot-spotter"
MAIN_4D = SPOTTER_FULL / "4d5611e5-241a-462a-8d15-5122611a9569.jsonl"
MAIN_AE = SPOTTER_FULL / "ae4a77f8-aedd-4bc1-888f-c94edc91af04.jsonl"
YALEMAN = SHARED_DATA / "claude_ai" / "yaleman-anthropic-data" / "conversations.json"
SHAREGPT = SHARED_DATA / "corpus" / "sharegpt_v3_pypi"
FIXED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def clock() -> datetime:
    return FIXED


@pytest.fixture
def vault(vault_root: Path) -> Vault:
    return Vault(vault_root)


def sessions(vault: Vault) -> dict[str, SessionFile]:
    """Every session in the vault, by id."""
    out: dict[str, SessionFile] = {}
    for path in vault.session_paths():
        parsed, _, _ = vault.read(path)
        out[parsed.session.id] = parsed.session
    return out


def tree_hash(vault: Vault) -> dict[str, str]:
    """sha256 of every file under sessions/, by relative path."""
    root = vault.sessions_dir
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------- independent counts


def cc_expected_messages(path: Path) -> int:
    """Messages a Claude Code transcript holds: one per user/assistant record (plus one per
    tool_result block, minus a record made only of tool results), one per system record
    with text; duplicate uuids, bad lines, empty messages and assistant records of blank
    text only don't count."""
    seen: set[str] = set()
    count = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict) or not rec.get("uuid") or rec["uuid"] in seen:
            continue
        if rec.get("type") == "system" and isinstance(rec.get("content"), str) and rec["content"]:
            seen.add(rec["uuid"])
            count += 1
        msg = rec.get("message")
        if rec.get("type") in ("user", "assistant") and isinstance(msg, dict):
            content = msg.get("content")
            blocks = [content] if isinstance(content, str) else content
            if (
                rec["type"] == "assistant"
                and isinstance(blocks, list)
                and blocks
                and all(
                    isinstance(b, dict) and b.get("type") == "text" and not b["text"].strip()
                    for b in blocks
                )
            ):
                continue
            if isinstance(content, str):
                count += 1
            elif isinstance(content, list) and content:
                results = [
                    b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"
                ]
                count += len(results) + (1 if len(content) > len(results) else 0)
            else:
                continue
            seen.add(rec["uuid"])
    return count


def cc_tool_ids(path: Path) -> tuple[set[str], set[str]]:
    """(tool_use ids, tool_result ids) in a transcript."""
    uses: set[str] = set()
    results: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        content = (
            (rec.get("message") or {}).get("content")
            if isinstance(rec.get("message"), dict)
            else None
        )
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_use":
                uses.add(block["id"])
            elif block.get("type") == "tool_result":
                results.add(block["tool_use_id"])
    return uses, results


def load_conversations(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, list) else [data]


def chatgpt_expected(path: Path) -> tuple[int, int, set[str]]:
    """(sessions, messages, leaf node ids) of a ChatGPT export: one session per leaf of each
    mapping, one message per node that has a message."""
    n_sessions = n_messages = 0
    leaves: set[str] = set()
    for conv in load_conversations(path):
        mapping = conv.get("mapping")
        if not mapping:
            continue
        parents = {n.get("parent") for n in mapping.values()}
        conv_leaves = [k for k in mapping if k not in parents]
        n_sessions += len(conv_leaves)
        leaves.update(conv_leaves)
        n_messages += sum(1 for n in mapping.values() if isinstance(n.get("message"), dict))
    return n_sessions, n_messages, leaves
