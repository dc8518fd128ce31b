"""store_session through the vault: seed 003's naming, limits, warnings and edge cases."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from vault import FilenameGenerationError, InvalidInput, Settings, Vault, find_project_root
from vault.conversation import split_plain


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_plain_conversation_is_split_on_speaker_prefixes(
    vault: Vault, frozen_clock: datetime
) -> None:
    stored = vault.store_session(
        "User: Implement authentication\nAI: Let's use JWT tokens...",
        topic="Authentication Implementation",
        format="plain",
    )
    assert stored.path.name == "session-20250115-143022-authentication-implementation.md"
    assert stored.path.parent.name == "2025-01-15"
    assert stored.path.parent.parent == vault.sessions_dir
    assert stored.session.topic == "authentication-implementation"
    assert stored.session.title == "Authentication Implementation"
    assert stored.session.created == "2025-01-15T14:30:22.123Z"
    assert [(m.role, m.content) for m in stored.session.messages] == [
        ("user", "Implement authentication"),
        ("assistant", "Let's use JWT tokens..."),
    ]
    assert stored.warnings == ()
    assert vault.get(stored.session.id) == stored.session


def test_messages_format_extracts_topic(vault: Vault, frozen_clock: datetime) -> None:
    stored = vault.store_session(
        [
            {"role": "user", "content": "Add database connection"},
            {"role": "assistant", "content": "I'll help you set up a database connection..."},
        ],
        format="messages",
    )
    assert stored.path.name == "session-20250115-143022-add-database-connection.md"
    assert stored.session.topic == "add-database-connection"


def test_non_string_content_is_kept_as_json(vault: Vault) -> None:
    content = [{"type": "text", "text": "hi"}, {"type": "tool_use", "name": "ls"}]
    stored = vault.store_session([{"role": "assistant", "content": content}], topic="x")
    assert json.loads(stored.session.messages[0].content) == content


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("just some text\nover two lines", [("user", "just some text\nover two lines")]),
        (
            "Human: hi\nAssistant: hello\nthere\nSystem: be nice",
            [("user", "hi"), ("assistant", "hello\nthere"), ("system", "be nice")],
        ),
        ("preamble\nUser: question", [("user", "preamble"), ("user", "question")]),
        ("User:no space\n\nAI: a\n", [("user", "no space"), ("assistant", "a")]),
    ],
)
def test_split_plain(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(d.role, d.content) for d in split_plain(text)] == expected


def test_empty_string_is_invalid_and_writes_nothing(vault: Vault, vault_root: Path) -> None:
    before = all_files(vault_root)
    with pytest.raises(InvalidInput, match="Conversation cannot be empty") as info:
        vault.store_session("")
    assert info.value.code == "INVALID_INPUT"
    assert all_files(vault_root) == before


def test_empty_message_list_is_stored_with_warning(vault: Vault) -> None:
    stored = vault.store_session([], format="messages")
    assert stored.path.exists()
    assert stored.session.messages == ()
    codes = [w.code for w in stored.warnings]
    assert "EMPTY_CONVERSATION" in codes
    assert "Conversation is empty" in [w.message for w in stored.warnings]
    assert "TOPIC_EXTRACTION_ERROR" in codes
    assert stored.session.topic == "untitled"


@pytest.mark.parametrize(
    ("conversation", "fmt", "field"),
    [
        (42, None, "conversation"),
        (None, None, "conversation"),
        ("text", "messages", "conversation"),
        ([{"role": "user", "content": "x"}], "plain", "conversation"),
        ([{"content": "x"}], "messages", "conversation[0].role"),
        ([{"role": "wizard", "content": "x"}], "messages", "conversation[0].role"),
        (["not an object"], "messages", "conversation[0]"),
        ("text", "yaml", "format"),
        ("bad \ud800 surrogate", None, "conversation"),
    ],
)
def test_invalid_input_names_the_field(
    vault: Vault, vault_root: Path, conversation: object, fmt: str | None, field: str
) -> None:
    before = all_files(vault_root)
    with pytest.raises(InvalidInput) as info:
        vault.store_session(conversation, format=fmt)
    assert info.value.field == field
    assert all_files(vault_root) == before


def test_over_ten_megabytes_is_rejected_before_any_io(vault: Vault, vault_root: Path) -> None:
    before = all_files(vault_root)
    with pytest.raises(InvalidInput, match="10MB"):
        vault.store_session("x" * (10 * 1024 * 1024 + 1))
    with pytest.raises(InvalidInput, match="10MB"):
        vault.store_session([{"role": "user", "content": "y" * (10 * 1024 * 1024 + 1)}])
    assert all_files(vault_root) == before
    assert not (vault_root / ".codearchitect").exists()


def test_over_one_megabyte_is_cut_at_a_character_boundary(vault: Vault) -> None:
    text = "User: " + "é" * (600 * 1024)  # 2 bytes each: 1.2 MB
    stored = vault.store_session(text, topic="big")
    assert "Conversation truncated to 1MB" in [w.message for w in stored.warnings]
    assert stored.session.truncated is True
    content = stored.session.messages[0].content
    assert set(content) == {"é"}
    assert len(("User: " + content).encode()) <= 1024 * 1024
    assert len(("User: " + content).encode()) > 1024 * 1024 - 2
    assert vault.get(stored.session.id).truncated is True


def test_truncated_message_list_keeps_the_prefix(vault: Vault) -> None:
    msgs = [
        {"role": "user", "content": "a" * 700_000},
        {"role": "assistant", "content": "b" * 700_000},
        {"role": "user", "content": "c"},
    ]
    stored = vault.store_session(msgs, topic="t")
    contents = [m.content for m in stored.session.messages]
    assert contents[0] == "a" * 700_000
    assert contents[1] == "b" * (1024 * 1024 - 700_000)
    assert len(contents) == 2


def test_collisions_get_counters_and_never_overwrite(vault: Vault, frozen_clock: datetime) -> None:
    paths = [vault.store_session(f"User: hello {i}", topic="Same Topic").path for i in range(4)]
    names = [p.name for p in paths]
    assert names == [
        "session-20250115-143022-same-topic.md",
        "session-20250115-143022-same-topic-1.md",
        "session-20250115-143022-same-topic-2.md",
        "session-20250115-143022-same-topic-3.md",
    ]
    contents = [vault.read(p)[0].session.messages[0].content for p in paths]
    assert contents == [f"hello {i}" for i in range(4)]
    assert len({vault.read(p)[0].session.id for p in paths}) == 4


def test_collision_limit_gives_filename_generation_error(
    vault_root: Path, frozen_clock: datetime
) -> None:
    small = Vault(vault_root, Settings(max_collisions=3))
    for i in range(4):
        small.store_session(f"User: {i}", topic="t")
    before = all_files(vault_root)
    with pytest.raises(FilenameGenerationError) as info:
        small.store_session("User: one too many", topic="t")
    assert info.value.code == "FILENAME_GENERATION_ERROR"
    assert {p for p in all_files(vault_root) if "sessions" in p.parts} == {
        p for p in before if "sessions" in p.parts
    }
    assert not [p for p in all_files(vault_root) if p.name.startswith(".~cam-")]


def test_topic_is_sanitised_and_limited(vault: Vault, frozen_clock: datetime) -> None:
    topic = "../../etc/passwd ．．／ Ünïcödé " + "word " * 40
    stored = vault.store_session("User: hi", topic=topic)
    assert stored.path.parent.parent == vault.sessions_dir
    assert len(stored.session.topic) <= 100
    assert stored.session.topic.startswith("etc-passwd-unicode-word")
    slug_in_name = stored.path.name.removeprefix("session-20250115-143022-").removesuffix(".md")
    assert len(slug_in_name) <= 50
    assert "/" not in slug_in_name and ".." not in slug_in_name
    assert len(stored.session.title) <= 100


def test_topic_without_letters_falls_back_with_warning(
    vault: Vault, frozen_clock: datetime
) -> None:
    stored = vault.store_session("User: ???", topic="日本語")
    assert stored.path.name == "session-20250115-143022-untitled.md"
    assert [w.code for w in stored.warnings] == ["TOPIC_EXTRACTION_ERROR"]
    assert stored.session.title == "日本語"


def test_gitignore_written_on_first_use(vault: Vault) -> None:
    vault.store_session("User: hi", topic="t")
    ignore = (vault.dir / ".gitignore").read_text()
    for entry in ("index/", "trash/", "locks/", ".~cam-*"):
        assert entry in ignore


def test_files_are_private(vault: Vault) -> None:
    old = os.umask(0o022)
    try:
        stored = vault.store_session("User: hi", topic="t")
    finally:
        os.umask(old)
    assert stored.path.stat().st_mode & 0o777 == 0o600
    assert stored.path.parent.stat().st_mode & 0o777 == 0o700


def test_project_root_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "p"
    (project / ".git").mkdir(parents=True)
    (project / "src" / "deep").mkdir(parents=True)
    assert find_project_root(cwd=project / "src" / "deep").path == project
    assert find_project_root(cwd=project / "src" / "deep").warning is None
    other = tmp_path / "q" / "sub"
    other.mkdir(parents=True)
    (tmp_path / "q" / ".codearchitect").mkdir()
    assert find_project_root(cwd=other).path == tmp_path / "q"
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    found = find_project_root(cwd=lonely)
    if found.path == lonely:
        assert found.warning is not None
        assert found.warning.code == "PROJECT_ROOT_NOT_FOUND"
        assert found.warning.message == "Using current directory as project root"
    monkeypatch.setenv("CODEARCHITECT_ROOT", str(project))
    assert find_project_root(cwd=lonely).path == project
    assert find_project_root(str(tmp_path), cwd=lonely).path == tmp_path


def test_store_into_existing_session_id_appends(vault: Vault) -> None:
    first = vault.store_session("User: one", topic="t", session_id="named-session")
    second = vault.store_session("User: two\nAI: three", session_id="named-session")
    assert second.path == first.path
    assert [m.content for m in second.session.messages] == ["one", "two", "three"]
