"""ChatGPT exports: the mapping tree, its branches, content types, and broken exports."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from vault import Vault
from vault.importers import run_import

from .conftest import (
    BULK,
    CHATGPT,
    SHAREGPT,
    chatgpt_expected,
    clock,
    load_conversations,
    sessions,
    tree_hash,
)

FILES = sorted(CHATGPT.rglob("*.json"))
TREE = CHATGPT / "danny-avila-LibreChat" / "chatgpt-tree.json"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_sessions_messages_and_branches_match_the_source(vault: Vault, path: Path) -> None:
    report = run_import(vault, "chatgpt", [path], clock=clock)
    n_sessions, n_messages, leaves = chatgpt_expected(path)
    found = sessions(vault)
    assert len(found) == n_sessions
    ids = [m.id for s in found.values() for m in s.messages]
    assert len(ids) == len(set(ids)) == n_messages == report.messages_added
    mapping = {k: v for c in load_conversations(path) for k, v in (c.get("mapping") or {}).items()}
    assert leaves <= set(ids) | {
        k for k in leaves if not isinstance(mapping[k].get("message"), dict)
    }
    for session in found.values():
        assert session.source == "chatgpt"
        first = mapping[session.messages[0].id]
        if "branchOf" in session.metadata:
            assert session.metadata["branchOf"] in found
            assert session.metadata["branchPoint"] == first.get("parent")
            point_session = session.metadata["branchPointSession"]
            assert point_session in found
            for m in session.messages[1:]:  # a branch is one path down the tree
                assert mapping[m.id]["parent"] in {x.id for x in session.messages}
    before = tree_hash(vault)
    again = run_import(vault, "chatgpt", [path], clock=clock)
    assert tree_hash(vault) == before and again.messages_added == 0


def test_current_node_branch_is_the_main_session(vault: Vault) -> None:
    run_import(vault, "chatgpt", [TREE], clock=clock)
    conv = load_conversations(TREE)[0]
    main = vault.get(f"chatgpt-{conv['id']}")
    assert main.messages[-1].id == conv["current_node"]
    assert main.metadata["currentNode"] == conv["current_node"]
    branches = {s.id: s for s in sessions(vault).values() if "branchOf" in s.metadata}
    assert len(branches) == 2
    points = sorted(s.metadata["branchPoint"] for s in branches.values())
    forks = sorted(k for k, n in conv["mapping"].items() if len(n.get("children", [])) > 1)
    assert points == forks  # the edited prompt and the regenerated answer
    assert all(s.metadata["branchPointSession"] == main.id for s in branches.values())
    interrupted = next(
        m for s in branches.values() for m in s.messages if m.metadata.get("interrupted")
    )
    assert interrupted.metadata["status"] == "in_progress"


def test_content_types_render_as_text(vault: Vault) -> None:
    run_import(
        vault, "chatgpt", [CHATGPT / "realazthat-chatgpt2graph" / "conversations.json"], clock=clock
    )
    (session,) = sessions(vault).values()
    code = [m for m in session.messages if m.metadata["contentType"] == "code"]
    assert len(code) == 11 and all(m.content.startswith("```") for m in code)
    assert all(m.metadata["recipient"] == "python" for m in code)
    outputs = [m for m in session.messages if m.metadata["contentType"] == "execution_output"]
    assert len(outputs) == 11 and all(m.role == "tool" for m in outputs)
    # A tool's output names its tool, so the `tool` filter finds it.
    assert all(m.metadata["toolName"] == m.metadata["author"] == "python" for m in outputs)
    hidden = [m for m in session.messages if m.metadata.get("hidden")]
    assert hidden and all(m.role == "system" for m in hidden)


def test_images_thoughts_and_single_object_files(vault: Vault, tmp_path: Path) -> None:
    images = Vault(tmp_path / "a")
    run_import(
        images,
        "chatgpt",
        [CHATGPT / "pionxzh-chatgpt-exporter" / "image-generation.json"],
        clock=clock,
    )
    texts = [m.content for s in sessions(images).values() for m in s.messages]
    assert sum("[image: sediment://" in t for t in texts) == 8
    thinking = Vault(tmp_path / "b")
    run_import(
        thinking,
        "chatgpt",
        [CHATGPT / "pionxzh-chatgpt-exporter" / "thinking-summaries.json"],
        clock=clock,
    )
    messages = [m for s in sessions(thinking).values() for m in s.messages]
    thoughts = [m for m in messages if m.metadata["contentType"] == "thoughts"]
    assert thoughts and "**summary 1**\nthought 1" in thoughts[0].content
    assert any(m.metadata["contentType"] == "reasoning_recap" and m.content for m in messages)


def test_modern_export_corrupted_entry_and_scaffolding(vault: Vault) -> None:
    report = run_import(
        vault,
        "chatgpt",
        [CHATGPT / "danny-avila-LibreChat" / "chatgpt-modern-export.json"],
        clock=clock,
    )
    assert [why for _, why in report.skipped] == ["conversation has no mapping (corrupted entry)"]
    assert "6b0f0d9c-0000-4000-8000-000000000002" in report.skipped[0][0]
    context = next(m for s in sessions(vault).values() for m in s.messages if m.id == "ctx-node")
    assert context.role == "system" and context.metadata["hidden"] is True
    assert "Answer concisely." in context.content


def test_dangling_parents_and_missing_current_node(vault: Vault) -> None:
    path = CHATGPT / "danny-avila-LibreChat" / "chatgpt-citations.json"
    report = run_import(vault, "chatgpt", [path], clock=clock)
    assert report.skipped == []
    (session,) = sessions(vault).values()
    assert [m.role for m in session.messages] == ["tool", "assistant"]


def test_truncated_export_keeps_complete_conversations(vault: Vault, tmp_path: Path) -> None:
    convs = [c for f in FILES for c in load_conversations(f) if c.get("mapping")]
    text = json.dumps(convs[:3], indent=1)
    cut = tmp_path / "conversations.json"
    cut.write_text(text[: len(text) - 200])
    report = run_import(vault, "chatgpt", [cut], clock=clock)
    assert len({c["id"] for c in convs[:2]}) == len({s.source_id for s in sessions(vault).values()})
    assert report.skipped[-1][0] == f"{cut} item 2"
    assert report.skipped[-1][1].startswith("cut off or malformed")


@pytest.mark.shared_data
def test_sharegpt_style_truncated_file_is_reported(vault: Vault, tmp_path: Path) -> None:
    with gzip.open(next(SHAREGPT.glob("*.gz"))) as f:
        head = f.read(60_000)
    path = tmp_path / "sharegpt.json"
    path.write_bytes(head)
    report = run_import(vault, "chatgpt", [path], clock=clock)
    assert report.created == []
    reasons = [why for _, why in report.skipped]
    assert reasons[0] == "not a ChatGPT conversation (looks like ShareGPT)"
    assert reasons[-1].startswith("cut off or malformed")


def test_claude_export_given_to_chatgpt_is_reported(vault: Vault) -> None:
    path = BULK
    report = run_import(vault, "chatgpt", [path])
    assert report.created == []
    assert "looks like a claude.ai export" in report.skipped[0][1]
