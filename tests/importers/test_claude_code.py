"""Claude Code transcripts: counts, tool results, idempotency, growth, subagent links."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vault import Vault
from vault.importers import resolve_tool_results, run_import

from .conftest import (
    BULK,
    CC,
    MAIN_4D,
    MAIN_AE,
    SPOTTER,
    SPOTTER_FULL,
    cc_expected_messages,
    cc_tool_ids,
    clock,
    sessions,
    tree_hash,
)

SUB_4D = sorted((SPOTTER_FULL / MAIN_4D.stem / "subagents").glob("*.jsonl"))
SUB_AE = sorted((SPOTTER_FULL / MAIN_AE.stem / "subagents").glob("*.jsonl"))


@pytest.mark.shared_data
def test_spotter_sessions_and_messages_match_the_source(vault: Vault) -> None:
    report = run_import(vault, "claude-code", [SPOTTER_FULL], clock=clock)
    mains = sorted(SPOTTER_FULL.glob("*.jsonl"))
    files = mains + SUB_4D + SUB_AE
    found = sessions(vault)
    assert len(found) == len(files) == 9
    assert sorted(report.created) == sorted(found)
    for path in mains:
        session = found[f"cc-{path.stem}"]
        assert len(session.messages) == cc_expected_messages(path), path.name
        assert session.source == "claude-code"
        assert session.source_id == path.stem
        assert session.source_path == str(path)
        assert session.imported_at == "2026-03-01T12:00:00.000Z"
    for path in SUB_4D + SUB_AE:
        sid = f"cc-{path.parent.parent.name}-{path.stem}"
        assert len(found[sid].messages) == cc_expected_messages(path), path.name
    assert report.messages_added == sum(len(s.messages) for s in found.values())


@pytest.mark.shared_data
def test_frontmatter_carries_the_session_facts(vault: Vault) -> None:
    run_import(vault, "claude-code", [MAIN_4D], clock=clock)
    session = vault.get(f"cc-{MAIN_4D.stem}")
    records = [json.loads(x) for x in MAIN_4D.read_text().splitlines()]
    first = next(r for r in records if "cwd" in r)
    assert session.metadata["cwd"] == first["cwd"]
    assert session.metadata["gitBranch"] == first["gitBranch"]
    assert session.metadata["version"] == first["version"]
    assert session.metadata["sessionId"] == MAIN_4D.stem
    assert session.title and "\n" not in session.title
    assert session.created == session.messages[0].created_at


@pytest.mark.shared_data
def test_tool_calls_carry_their_results(vault: Vault) -> None:
    run_import(vault, "claude-code", [MAIN_AE], clock=clock)
    messages = resolve_tool_results(vault.get(f"cc-{MAIN_AE.stem}").messages)
    uses, results = cc_tool_ids(MAIN_AE)
    calls = {
        c["id"]: c
        for m in messages
        for c in m.metadata.get("toolCalls", [])
        if m.role == "assistant"
    }
    assert set(calls) == uses
    answered = [c for c in calls.values() if "result" in c]
    assert {c["id"] for c in answered} == uses & results
    assert len(answered) > 200
    tool_messages = [m for m in messages if m.role == "tool"]
    assert len(tool_messages) == len(results)
    assert all(m.metadata["toolUseId"] in uses for m in tool_messages)


def test_thinking_and_tokens_are_metadata(vault: Vault) -> None:
    run_import(vault, "claude-code", [SPOTTER / "short.jsonl"], clock=clock)
    messages = vault.get("cc-short").messages
    thinking = [m for m in messages if "thinking" in m.metadata]
    assert thinking and all(m.content == "" for m in thinking)
    assert "Phoenix server" in thinking[0].metadata["thinking"]
    replies = [
        m for m in messages if m.metadata.get("apiMessageId") == "msg_01MKH1ccEGrZGNPvu8pYiiQa"
    ]
    # One reply split over five records: its first record holds only "\n\n" and is not a
    # message (it would read as an empty heading); the other four stay four messages, and
    # the usage Claude Code repeats on each goes on the first of them.
    assert len(replies) == 4
    assert [("tokens" in m.metadata) for m in replies] == [True, False, False, False]
    assert replies[0].metadata["tokens"]["output"] == 13
    assert not any(
        m.role == "assistant"
        and not m.content.strip()
        and not ({"thinking", "toolCalls"} & m.metadata.keys())
        for m in messages
    )


@pytest.mark.parametrize(
    ("folder", "sessions_in_it"),
    [(SPOTTER, 3), pytest.param(SPOTTER_FULL, 9, marks=pytest.mark.shared_data)],
    ids=["fixtures", "shared"],
)
def test_second_import_changes_no_byte(vault: Vault, folder: Path, sessions_in_it: int) -> None:
    run_import(vault, "claude-code", [folder], clock=clock)
    before = tree_hash(vault)
    again = run_import(vault, "claude-code", [folder])
    assert tree_hash(vault) == before
    assert again.created == again.grown == [] and again.messages_added == 0
    assert len(again.unchanged) == sessions_in_it


@pytest.mark.parametrize(
    ("source", "cut"),
    [
        (SPOTTER / "subagent.jsonl", 20),
        (SPOTTER / "subagent.jsonl", 70),
        (SPOTTER / "tool_heavy.jsonl", 25),
        *(pytest.param(MAIN_4D, cut, marks=pytest.mark.shared_data) for cut in (40, 757, 1400)),
    ],
)
def test_grown_transcript_only_appends(
    vault: Vault, tmp_path: Path, source: Path, cut: int
) -> None:
    lines = source.read_bytes().splitlines(keepends=True)
    assert 0 < cut < len(lines)
    live = tmp_path / "live" / source.name
    live.parent.mkdir()
    live.write_bytes(b"".join(lines[:cut]))
    first = run_import(vault, "claude-code", [live], clock=clock)
    sid = f"cc-{source.stem}"
    assert first.created == [sid]
    path = vault.locate(sid)
    old = path.read_bytes()
    live.write_bytes(b"".join(lines))
    second = run_import(vault, "claude-code", [live], clock=clock)
    assert second.grown == [sid]
    new = path.read_bytes()
    assert new.startswith(old) and len(new) > len(old)
    assert len(vault.get(sid).messages) == cc_expected_messages(source)
    assert second.changed_after_import == []


@pytest.mark.shared_data
def test_subagents_link_to_their_parent_both_ways(vault: Vault) -> None:
    run_import(vault, "claude-code", [MAIN_4D], clock=clock)
    parent_id = f"cc-{MAIN_4D.stem}"
    child = vault.get(f"{parent_id}-agent-a2898e3")
    assert child.metadata["kind"] == "subagent"
    assert child.metadata["parentSession"] == parent_id
    use = child.metadata["parentToolUseId"]
    assert use == "toolu_017pLRuPHYTX5t99EnLyV53m"
    assert child.metadata["subagentType"] == "Explore"
    parent = vault.get(parent_id)
    calls = [c for m in parent.messages for c in m.metadata.get("toolCalls", [])]
    assert any(c["id"] == use and c["name"] == "Task" for c in calls)
    results = [m for m in parent.messages if m.metadata.get("toolUseId") == use]
    assert [m.metadata.get("subagentSession") for m in results] == [child.id]


@pytest.mark.shared_data
def test_compaction_agent_links_to_the_compaction(vault: Vault) -> None:
    run_import(vault, "claude-code", [MAIN_4D, MAIN_AE], clock=clock)
    for main, agent in ((MAIN_4D, "acompact-e1f845"), (MAIN_AE, "acompact-946d2b")):
        parent = vault.get(f"cc-{main.stem}")
        child = vault.get(f"cc-{main.stem}-agent-{agent}")
        assert child.metadata["kind"] == "compaction"
        target = [m for m in parent.messages if m.id == child.metadata["compaction"]]
        assert len(target) == 1
        assert target[0].role == "system" and target[0].metadata["compactSummary"] is True
        assert target[0].content.startswith("This session is being continued")
        boundary = [m for m in parent.messages if m.id == child.metadata["compactBoundary"]]
        assert boundary[0].metadata["subtype"] == "compact_boundary"


@pytest.mark.shared_data
def test_a_subagent_file_alone_still_links_to_its_parent(vault: Vault) -> None:
    report = run_import(vault, "claude-code", [SUB_4D[0]], clock=clock)
    assert report.created == [f"cc-{MAIN_4D.stem}-agent-a2898e3"]
    child = vault.get(report.created[0])
    assert child.metadata["parentToolUseId"] == "toolu_017pLRuPHYTX5t99EnLyV53m"


def test_discovers_the_current_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "my.project"
    (root / ".git").mkdir(parents=True)
    projects = tmp_path / "claude" / "projects"
    by_name = projects / str(root).replace("/", "-").replace(".", "-")
    by_name.mkdir(parents=True)
    shutil.copy(SPOTTER / "short.jsonl", by_name / "short.jsonl")
    by_cwd = projects / "-somewhere-else"
    by_cwd.mkdir()
    lines = (SPOTTER / "tool_heavy.jsonl").read_text().splitlines()
    moved = [json.dumps({**json.loads(x), "cwd": str(root)}) for x in lines]
    (by_cwd / "tool_heavy.jsonl").write_text("\n".join(moved) + "\n")
    other = projects / "-other-project"
    other.mkdir()
    shutil.copy(CC / "daaain-claude-code-log" / "edge_cases.jsonl", other / "edge.jsonl")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    vault = Vault(root)
    report = run_import(vault, "claude-code", [], clock=clock)
    assert sorted(report.created) == ["cc-short", "cc-tool_heavy"]
    everything = run_import(vault, "claude-code", [], all_projects=True, clock=clock)
    assert everything.created == ["cc-edge"]


def test_no_transcripts_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "nothing"))
    report = run_import(Vault(tmp_path / "p"), "claude-code", [])
    assert report.created == [] and report.skipped


def test_bad_lines_are_reported_with_file_and_line(vault: Vault) -> None:
    edge = CC / "daaain-claude-code-log" / "edge_cases.jsonl"
    report = run_import(vault, "claude-code", [edge], clock=clock)
    reasons = {what.rsplit("/", 1)[1]: why for what, why in report.skipped}
    assert reasons["edge_cases.jsonl:10"] == "user message without content"
    assert reasons["edge_cases.jsonl:11"] == "user record without a message object"
    for line in (13, 15, 16):
        assert reasons[f"edge_cases.jsonl:{line}"] == "not a JSON object"
    assert "unknown record type" in reasons["edge_cases.jsonl:14"]
    session = vault.get("cc-edge_cases")
    assert len(session.messages) == cc_expected_messages(edge)
    assert session.title.startswith("Tested various edge cases")  # from the summary record
    ids = [m.id for m in session.messages]
    assert len(ids) == len(set(ids))


def test_truncated_and_malformed_lines_do_not_stop_the_import(vault: Vault, tmp_path: Path) -> None:
    lines = (SPOTTER / "short.jsonl").read_bytes().splitlines(keepends=True)
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(lines[0] + b"{not json\n" + b"".join(lines[1:10]) + lines[10][:50])
    report = run_import(vault, "claude-code", [broken], clock=clock)
    reasons = [why for what, why in report.skipped if what.startswith(str(broken) + ":")]
    assert any(r.startswith("malformed JSON") for r in reasons)
    assert any(r.startswith("incomplete last line") for r in reasons)
    assert report.created == ["cc-broken"]
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(b"".join(lines[:10]))
    # 6 records are messages; one more holds only blank text (not a message)
    assert len(vault.get("cc-broken").messages) == cc_expected_messages(whole) == 5


def test_huge_message_is_cut_at_one_megabyte(vault: Vault, tmp_path: Path) -> None:
    big = "é" * 700_000  # 1.4 MB of UTF-8
    record = {
        "type": "user",
        "uuid": "u1",
        "timestamp": "2026-01-01T00:00:00Z",
        "message": {"role": "user", "content": big},
    }
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(record) + "\n")
    run_import(vault, "claude-code", [path], clock=clock)
    message = vault.get("cc-big").messages[0]
    assert len(message.content.encode("utf-8")) <= 1024 * 1024
    assert big.startswith(message.content)
    assert message.metadata["truncated"] is True


def test_not_a_transcript_is_reported(vault: Vault) -> None:
    path = BULK
    report = run_import(vault, "claude-code", [path], clock=clock)
    assert report.skipped == [(str(path), "not a Claude Code transcript (.jsonl)")]


def test_unpaired_surrogates_become_replacement_characters(vault: Vault, tmp_path: Path) -> None:
    record = {
        "type": "user",
        "uuid": "u1",
        "timestamp": "2026-01-01T00:00:00Z",
        "cwd": "/x\udc00",
        "message": {"role": "user", "content": "bad \ud800 here"},
    }
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(record) + "\n")
    report = run_import(vault, "claude-code", [path], clock=clock)
    assert report.created == ["cc-s"]
    session = vault.get("cc-s")
    assert session.messages[0].content == "bad \ufffd\ufffd\ufffd here"
    assert session.metadata["cwd"].startswith("/x\ufffd")
