"""claude.ai exports: the bulk list, the single-conversation web shape, and the zip."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from vault import Vault
from vault.importers import run_import

from .conftest import (
    BULK,
    CHATGPT,
    CLAUDE_AI,
    YALEMAN,
    clock,
    load_conversations,
    sessions,
    tree_hash,
)

WEB = sorted((CLAUDE_AI / "osteele-claude-chat-viewer").glob("*.json"))


@pytest.mark.parametrize(
    "bulk", [BULK, pytest.param(YALEMAN, marks=pytest.mark.shared_data)], ids=["ours", "yaleman"]
)
def test_sessions_and_messages_match_the_source(vault: Vault, bulk: Path) -> None:
    files = [bulk, *WEB]
    report = run_import(vault, "claude-ai", files, clock=clock)
    conversations = [c for f in files for c in load_conversations(f)]
    found = sessions(vault)
    assert len(found) == len(conversations) == 3
    for conv in conversations:
        session = found[f"claude-{conv['uuid']}"]
        assert [m.id for m in session.messages] == [m["uuid"] for m in conv["chat_messages"]]
        assert [m.role for m in session.messages] == [
            {"human": "user", "assistant": "assistant"}[m["sender"]] for m in conv["chat_messages"]
        ]
        assert session.source == "claude-ai" and session.source_id == conv["uuid"]
        assert session.title == conv["name"]
    assert report.skipped == []


@pytest.mark.parametrize(
    "bulk", [BULK, pytest.param(YALEMAN, marks=pytest.mark.shared_data)], ids=["ours", "yaleman"]
)
def test_thinking_is_metadata_and_text_is_the_reply(vault: Vault, bulk: Path) -> None:
    run_import(vault, "claude-ai", [bulk], clock=clock)
    conv = load_conversations(bulk)[0]
    reply = vault.get(f"claude-{conv['uuid']}").messages[1]
    blocks = conv["chat_messages"][1]["content"]
    assert reply.content == blocks[1]["text"]
    assert reply.metadata["thinking"] == blocks[0]["thinking"]


def test_tool_use_blocks_and_files(vault: Vault) -> None:
    run_import(vault, "claude-ai", WEB, clock=clock)
    tests = vault.get("claude-test-conv-render-errors")
    tool = next(m for m in tests.messages if m.id == "msg-7")
    assert tool.metadata["toolCalls"][0]["name"] == "create_artifact"
    assert tool.metadata["toolCalls"][0]["arguments"]["language"] == "javascript"
    empty = next(m for m in tests.messages if m.id == "msg-3")
    assert empty.content == "This message has empty content array - should show as empty"
    bakery = vault.get("claude-8006a434-8b0b-43df-8e6d-c0a7aeb2e6b3")
    first = bakery.messages[0]
    assert first.metadata["files"][0]["file_kind"] == "image"
    assert "[File: image (image)]" in first.content
    assert bakery.metadata["model"] == "claude-3-5-sonnet-20240620"


def test_attachments_extracted_text_is_kept(vault: Vault, tmp_path: Path) -> None:
    conv = load_conversations(BULK)[0]
    conv["chat_messages"][0]["attachments"] = [
        {
            "file_name": "notes.txt",
            "file_type": "txt",
            "file_size": 12,
            "extracted_content": "hello notes",
        }
    ]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([conv]))
    run_import(vault, "claude-ai", [path], clock=clock)
    first = vault.get(f"claude-{conv['uuid']}").messages[0]
    assert first.content.endswith("\n\n[Attachment: notes.txt]\nhello notes")
    assert first.metadata["attachments"] == [
        {"file_name": "notes.txt", "file_type": "txt", "file_size": 12}
    ]


def test_zip_export_and_zip_slip(vault: Vault, tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(BULK, "conversations.json")
        z.writestr("users.json", "[]")
        z.writestr("../evil/conversations.json", BULK.read_text())
        z.writestr("/abs/conversations.json", BULK.read_text())
    report = run_import(vault, "claude-ai", [archive], clock=clock)
    assert len(report.created) == 1
    unsafe = [what for what, why in report.skipped if "zip-slip" in why]
    assert unsafe == [f"{archive}!../evil/conversations.json", f"{archive}!/abs/conversations.json"]
    assert not (tmp_path / "evil").exists()
    session = vault.get(report.created[0])
    assert session.source_path == f"{archive}!conversations.json"
    before = tree_hash(vault)
    assert run_import(vault, "claude-ai", [archive]).messages_added == 0
    assert tree_hash(vault) == before


def test_wrong_kind_of_export_is_reported(vault: Vault) -> None:
    report = run_import(
        vault, "claude-ai", [CHATGPT / "danny-avila-LibreChat" / "chatgpt-tree.json"]
    )
    assert report.created == []
    assert len(report.skipped) == 1
    assert "looks like a ChatGPT export" in report.skipped[0][1]
