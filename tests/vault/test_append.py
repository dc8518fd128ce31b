"""Appending messages, seed 000's auto-create, and rewrites that never clobber."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from vault import (
    AmbiguousSession,
    Conflict,
    InvalidInput,
    MalformedSessionFile,
    MessageNotFound,
    SessionDeleted,
    SessionNotFound,
    Vault,
    files,
    parse,
)


def test_unknown_named_session_is_created_with_that_id(vault: Vault) -> None:
    result = vault.append_message("brand-new-session", "user", "test message")
    assert result.created_session and result.appended
    assert result.session_id == "brand-new-session"
    session = vault.get("brand-new-session")
    assert [m.content for m in session.messages] == ["test message"]
    assert result.path.name.endswith("-brand-new-session.md")


def test_no_session_creates_a_fresh_one(vault: Vault) -> None:
    result = vault.append_message(None, "user", "test message")
    assert result.created_session
    assert result.session_id.startswith("session-")
    assert result.session_id.endswith("-test-message")
    assert vault.get(result.session_id).messages[0].content == "test message"


def test_existing_session_is_reused(vault: Vault) -> None:
    first = vault.append_message("reuse-session", "user", "first")
    second = vault.append_message("reuse-session", "user", "second")
    assert first.session_id == second.session_id
    assert not second.created_session
    assert second.path == first.path
    assert [m.content for m in vault.get("reuse-session").messages] == ["first", "second"]


def test_append_only_appends_bytes(vault: Vault) -> None:
    first = vault.append_message("s", "user", "one")
    before = first.path.read_bytes()
    vault.append_message(
        "s", "assistant", "two\n---\n```\n", {"model": "m", "tokens": {"input": 1, "output": 2}}
    )
    after = first.path.read_bytes()
    assert after.startswith(before)
    message = vault.get("s").messages[-1]
    assert message.content == "two\n---\n```\n"
    assert message.metadata == {"model": "m", "tokens": {"input": 1, "output": 2}}


def test_explicit_message_id_is_idempotent(vault: Vault) -> None:
    vault.append_message("s", "user", "one", message_id="src-1")
    before = vault.locate("s").read_bytes()
    again = vault.append_message("s", "user", "one", message_id="src-1")
    assert again.appended is False
    assert vault.locate("s").read_bytes() == before


def test_trashed_session_is_never_brought_back(vault: Vault) -> None:
    vault.append_message("gone", "user", "x")
    assert vault.delete("gone") is True
    assert vault.delete("gone") is False
    with pytest.raises(SessionDeleted) as info:
        vault.append_message("gone", "user", "again")
    assert info.value.code == "SESSION_DELETED"
    with pytest.raises(SessionDeleted):
        vault.get("gone")
    assert len(list(vault.trash_dir.glob("*.md"))) == 1
    assert not list(vault.session_paths())


def test_unknown_session_for_reads(vault: Vault) -> None:
    with pytest.raises(SessionNotFound):
        vault.get("nope")


def test_another_process_append_is_seen(vault_root: Path) -> None:
    a, b = Vault(vault_root), Vault(vault_root)
    a.append_message("shared", "user", "from a")
    b.append_message("shared", "user", "from b")
    a.append_message("shared", "user", "from a again")
    assert [m.content for m in b.get("shared").messages] == ["from a", "from b", "from a again"]


def test_session_created_by_another_instance_is_found_not_duplicated(vault_root: Path) -> None:
    a, b = Vault(vault_root), Vault(vault_root)
    a.session_ids()  # warm a's catalogue before b creates the file
    b.append_message("late", "user", "b made it")
    a.append_message("late", "user", "a joins")
    assert len(list(a.session_paths())) == 1
    assert [m.content for m in a.get("late").messages] == ["b made it", "a joins"]


def test_torn_tail_is_cut_by_the_next_append(vault: Vault) -> None:
    first = vault.append_message("t", "user", "kept")
    good = first.path.read_bytes()
    torn = b"\n<!-- cam:msg id=mTORN role=user ts=2025-01-15T14:30:22.123Z bytes=99 sha256=0000000000000000 -->\n### User"
    with first.path.open("ab") as fh:
        fh.write(torn)
    assert parse(first.path.read_bytes()).torn_offset == len(good)
    assert [m.content for m in vault.get("t").messages] == ["kept"]
    vault.append_message("t", "user", "next")
    data = first.path.read_bytes()
    assert data.startswith(good)
    assert b"mTORN" not in data
    assert [m.content for m in vault.get("t").messages] == ["kept", "next"]


def test_hand_typed_unclosed_block_is_malformed_and_refused(vault: Vault) -> None:
    first = vault.append_message("h", "user", "kept")
    with first.path.open("a") as fh:
        fh.write("\n<!-- cam:msg role=user -->\ntyped by hand, never closed\n")
    before = first.path.read_bytes()
    with pytest.raises(MalformedSessionFile) as info:
        vault.append_message("h", "user", "more")
    assert info.value.code == "MALFORMED_SESSION_FILE"
    assert first.path.read_bytes() == before


def test_hand_edits_are_understood(vault: Vault) -> None:
    vault.append_message("e", "user", "one")
    vault.append_message("e", "assistant", "two")
    vault.append_message("e", "user", "three")
    path = vault.locate("e")
    text = path.read_text()
    text = text.replace("\none\n", "\nONE (edited)\n")
    parsed = parse(text.encode())
    second = parsed.session.messages[1]
    i = 1
    text = (
        text.encode()[: parsed.message_starts[i]] + text.encode()[parsed.message_ends[i] :]
    ).decode()
    text += "\n<!-- cam:msg role=assistant -->\nadded by hand\n<!-- /cam:msg -->\n"
    text = text.replace("status: active", "status: archived")
    path.write_text(text)
    session = vault.get("e")
    assert session.status == "archived"
    assert [(m.content, m.edited) for m in session.messages] == [
        ("ONE (edited)", True),
        ("three", False),
        ("added by hand", True),
    ]
    assert second.id not in {m.id for m in session.messages}
    vault.append_message("e", "user", "after the edit")
    assert [m.content for m in vault.get("e").messages][-1] == "after the edit"


def test_patch_changes_only_given_fields_and_merges_metadata(vault: Vault) -> None:
    vault.append_message(
        "p", "user", "x", new_session={"metadata": {"a": 1, "b": 2}, "tags": ["t"]}
    )
    body_before = vault.locate("p").read_bytes().split(b"\n---\n", 1)[1]
    session = vault.patch("p", title="New", metadata={"b": None, "c": 3}, status="idle")
    assert session.title == "New"
    assert session.metadata == {"a": 1, "c": 3}
    assert session.status == "idle"
    assert session.tags == ("t",)
    assert session.updated is not None
    assert session.messages == vault.get("p").messages
    body_after = vault.locate("p").read_bytes().split(b"\n---\n", 1)[1]
    assert body_after.endswith(
        body_before.split(b"# ", 1)[-1].split(b"\n", 1)[-1]
    ) or body_after.endswith(body_before)
    assert b"\n# New\n" in vault.locate("p").read_bytes()
    with pytest.raises(InvalidInput):
        vault.patch("p", status="bogus")


def test_patch_refuses_a_malformed_file(vault: Vault) -> None:
    first = vault.append_message("m", "user", "x")
    first.path.write_text("---\nid: m\ncreated: [broken\n---\n")
    before = first.path.read_bytes()
    with pytest.raises(MalformedSessionFile):
        vault.patch("m", title="t")
    assert first.path.read_bytes() == before


def test_rewrite_retries_then_conflicts_when_the_file_keeps_changing(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = vault.append_message("c", "user", "x")
    real_stat = files.stat_file
    calls = {"n": 0}

    # an editor touching the file between read and replace
    def changing_stat(path: Path) -> files.FileState | None:
        state = real_stat(path)
        if path == first.path and state is not None:
            calls["n"] += 1
            return type(state)(state.ino, state.size + calls["n"], state.mtime_ns)
        return state

    monkeypatch.setattr(files, "stat_file", changing_stat)
    before = first.path.read_bytes()
    with pytest.raises(Conflict) as info:
        vault.patch("c", title="never")
    assert info.value.code == "CONFLICT"
    monkeypatch.undo()
    assert first.path.read_bytes() == before


def test_editor_replacing_the_file_during_append_is_retried(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = vault.append_message("r", "user", "one")
    real_append = files.append_bytes
    done = {"replaced": False}

    def append_then_editor_saves(
        path: Path, data: bytes, expected: files.FileState
    ) -> files.FileState:
        state = real_append(path, data, expected)
        if not done["replaced"]:
            done["replaced"] = True
            # The editor had the file open from before our append and saves it (temp + rename).
            tmp = path.with_name(".editor-tmp")
            tmp.write_bytes(before + b"")
            tmp.replace(path)
        return state

    before = first.path.read_bytes()
    monkeypatch.setattr(files, "append_bytes", append_then_editor_saves)
    result = vault.append_message("r", "user", "two")
    assert result.appended
    assert [m.content for m in vault.get("r").messages] == ["one", "two"]


def test_an_append_an_editor_carried_into_its_save_is_journaled(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the vim storm (`make stress`): the editor loaded the file just after our
    append's write and saved it (renamed away, rewritten) before our check, so the retry
    found the message already there and wrote nothing, and nothing was journaled either.
    A later stale save then removed an acknowledged message that no report could name."""
    vault.append_message("carried", "user", "one")
    real_append = files.append_bytes
    stale: list[bytes] = []

    def append_then_vim_saves(
        path: Path, data: bytes, expected: files.FileState
    ) -> files.FileState:
        state = real_append(path, data, expected)
        if not stale:
            stale.append(path.read_bytes()[: expected.size])  # an older buffer, for later
            buffer = path.read_bytes()  # the editor loads the file, our bytes in it
            backup = path.with_name(path.name + "~")
            os.replace(path, backup)
            path.write_bytes(buffer + b"\nnote\n")
            backup.unlink()
        return state

    monkeypatch.setattr(files, "append_bytes", append_then_vim_saves)
    result = vault.append_message("carried", "user", "two")
    monkeypatch.undo()
    assert result.appended
    assert [m.content for m in vault.get("carried").messages] == ["one", "two"]
    path = vault.locate("carried")
    path.write_bytes(stale[0])  # another stale save: "two" is gone from the file
    assert [e.message.id for e in vault.acked_missing()] == [result.message.id]


def test_delete_message(vault: Vault) -> None:
    a = vault.append_message("d", "user", "one")
    b = vault.append_message("d", "assistant", "two")
    vault.append_message("d", "user", "three")
    session = vault.delete_message("d", b.message.id)
    assert [m.content for m in session.messages] == ["one", "three"]
    with pytest.raises(MessageNotFound):
        vault.delete_message("d", b.message.id)
    assert a.message.id in {m.id for m in vault.get("d").messages}


def test_copied_file_makes_the_id_ambiguous(vault: Vault) -> None:
    first = vault.append_message("dup", "user", "x")
    copy = first.path.with_name("session-20990101-000000-copy.md")
    copy.write_bytes(first.path.read_bytes())
    with pytest.raises(AmbiguousSession) as info:
        vault.append_message("dup", "user", "y")
    assert info.value.code == "AMBIGUOUS"
    assert len(info.value.paths) == 2


@pytest.mark.parametrize(
    "bad", ["", " padded ", "a/b", "a\\b", "..", "x\x00y", "a\u202eb", "x" * 129, "a\nb"]
)
def test_unsafe_session_ids_are_refused(vault: Vault, vault_root: Path, bad: str) -> None:
    with pytest.raises(InvalidInput):
        vault.append_message(bad, "user", "x")
    assert not (vault_root / ".codearchitect" / "sessions").exists() or not list(
        vault.session_paths()
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "wizard", "content": "x"}, "role"),
        ({"role": "user", "content": 42}, "content"),
        ({"role": "user", "content": "\udc00"}, "content"),
        ({"role": "user", "content": "x", "metadata": {"x": object()}}, "metadata"),
        ({"role": "user", "content": "x", "created_at": "yesterday"}, "created_at"),
        ({"role": "user", "content": "x", "message_id": "has space"}, "id"),
    ],
)
def test_bad_message_arguments(
    vault: Vault, vault_root: Path, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        vault.append_message("s", **kwargs)
    assert info.value.field == field
    assert not list(vault.session_paths())


def test_big_message_is_cut_and_marked(vault: Vault) -> None:
    result = vault.append_message("big", "user", "€" * 400_000)  # 1.2 MB
    message = vault.get("big").messages[0]
    assert message.metadata["truncated"] is True
    assert len(message.content.encode()) <= 1024 * 1024
    assert [w.message for w in result.warnings] == ["Message truncated to 1MB"]
    with pytest.raises(InvalidInput):
        vault.append_message("big", "user", "x" * (10 * 1024 * 1024 + 1))


def test_append_messages_batches_and_is_idempotent(vault: Vault) -> None:
    from vault import Message

    ts = "2025-01-15T14:30:22.123Z"
    batch = [
        Message(f"src-{i}", "user" if i % 2 == 0 else "assistant", f"text {i}", ts)
        for i in range(4)
    ]
    path, created, written = vault.append_messages(
        "imported",
        batch[:2],
        new_session={"title": "Imported", "source": "claude-code", "created": ts},
    )
    assert created and [m.id for m in written] == ["src-0", "src-1"]
    assert vault.get("imported").source == "claude-code"
    assert vault.get("imported").created == ts
    before = path.read_bytes()
    path2, created2, written2 = vault.append_messages("imported", [*batch, batch[3]])
    assert path2 == path and not created2
    assert [m.id for m in written2] == ["src-2", "src-3"]
    assert path.read_bytes().startswith(before)
    after = path.read_bytes()
    _, _, none = vault.append_messages("imported", batch)
    assert none == []
    assert path.read_bytes() == after
    assert [m.id for m in vault.get("imported").messages] == [m.id for m in batch]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"---\nid: abc\ntitle: x\n---\n", "abc"),
        (b"---\ntitle: x\nid: 'a b'\n---\n", "a b"),
        (b'---\nid: "q\\"x"\n---\n', None),
        (b"---\nid: &a x\n---\n", None),
        (b"---\nmetadata:\n  id: nested\n---\n", None),
        (b"---\nid: x # comment\n---\n", None),
        (b"---\ntitle: t\n---\nid: outside\n", None),
    ],
)
def test_catalogue_reads_plain_ids_without_yaml_and_defers_the_rest(
    head: bytes, expected: str | None
) -> None:
    from vault.lookup import _plain_id

    assert _plain_id(head) == expected


def test_quoted_and_escaped_ids_are_still_found(vault: Vault) -> None:
    tricky = 'has "quotes" and: a # hash'
    vault.append_message(tricky, "user", "x")
    fresh = Vault(vault.root)
    assert fresh.get(tricky).messages[0].content == "x"
