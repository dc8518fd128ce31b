"""`serve` answers the MCP handshake from a recording while the SDK loads (handshake.py):
the recording is the live server's answers, the prelude answers only what it recorded and
hands everything else to the SDK, and the SDK's state after the hand-over is the one the
client saw. Real `codearchitect serve` processes throughout."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mcp_server import handshake, handshake_record
from mcp_server.cli import serve_root
from mcp_server.handshake import SNAPSHOT, Prelude, current_key, load_snapshot
from mcp_server.handshake_record import (
    CLIENT_INFO,
    exchange,
    legacy_requests,
    modern_requests,
)
from tests.helpers.polling import wait_until
from tests.reliability.conftest import RawServer

STALE = "the handshake recording is stale: run `python -m mcp_server.handshake_record`"


def _prelude_answers(requests: list[Any]) -> list[str]:
    snapshot = load_snapshot()
    assert snapshot is not None, STALE
    prelude = Prelude(snapshot)
    answers = []
    for request in requests:
        answer = prelude.answer(json.dumps(request).encode() + b"\n")
        assert answer is not None, f"the prelude handed over {request}"
        if "id" in request:
            answers.append(answer)
    return answers


def test_the_recording_is_the_live_servers_answers(tmp_path: Path) -> None:
    snapshot = load_snapshot()  # the one `serve` uses: shipped, or made by make install
    assert snapshot is not None, STALE
    assert snapshot["key"] == current_key()
    # the shipped one was made from today's tool definitions (its SDK versions may be
    # another machine's: make install then records one for this environment)
    assert json.loads(SNAPSHOT.read_text())["key"]["sources"] == current_key()["sources"], STALE
    versions = list(snapshot["legacy"]["initialize"])
    other_client = {"name": "someone-else", "version": "9.9", "title": "Another client"}
    batches = [legacy_requests(v) for v in versions]
    batches.append(legacy_requests("1999-01-01"))  # one it does not speak: its latest
    batches.append(legacy_requests(versions[0], other_client))
    for version in snapshot["modern"]["server/discover"]:
        batches.append(modern_requests(version))
        batches.append(modern_requests(version, other_client, {"roots": {}, "sampling": {}}))
    with ThreadPoolExecutor(max_workers=2) as pool:
        live = list(pool.map(lambda batch: exchange(batch, tmp_path), batches))
    for batch, answers in zip(batches, live, strict=True):
        assert [json.loads(a) for a in answers] == [
            json.loads(a) for a in _prelude_answers(batch)
        ], batch[0]


def test_a_stale_or_switched_off_recording_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_snapshot() is not None, STALE
    data = json.loads(SNAPSHOT.read_text())
    data["key"]["sources"] = "0" * 64  # made from other tool definitions
    stale = tmp_path / "handshake.json"
    stale.write_text(json.dumps(data))
    assert load_snapshot(stale) is None
    data["key"] = current_key()
    data["key"]["packages"] = ["mcp-0.0.1", *data["key"]["packages"][1:]]  # another SDK
    stale.write_text(json.dumps(data))
    assert load_snapshot(stale) is None
    stale.write_text("{not json")
    assert load_snapshot(stale) is None
    # the installed recording is looked at first; a stale one falls through to the shipped
    installed = tmp_path / "installed.json"
    monkeypatch.setattr(handshake, "INSTALLED", installed)
    installed.write_text(json.dumps(data))  # another SDK's
    assert load_snapshot() == load_snapshot(SNAPSHOT) is not None
    fits = {**data, "key": current_key(), "tools": [[]]}
    installed.write_text(json.dumps(fits))  # this environment's, made by make install
    assert load_snapshot() == fits
    monkeypatch.setenv("CODEARCHITECT_HANDSHAKE", "sdk")
    assert load_snapshot() is None


def _line(message: Any) -> bytes:
    return json.dumps(message).encode() + b"\n"


INIT = legacy_requests("2025-06-18")[0]
DISCOVER, MODERN_LIST = modern_requests("2026-07-28")


@pytest.mark.parametrize(
    ("before", "request_"),
    [
        ([], {**INIT, "id": True}),  # an id the SDK refuses
        ([], {**INIT, "params": {**INIT["params"], "extra": 1}}),
        ([], {**INIT, "params": {**INIT["params"], "capabilities": {"roots": 5}}}),
        ([], {**INIT, "params": {**INIT["params"], "clientInfo": {"name": "x"}}}),
        ([], {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),  # before initialize
        ([], {"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ([], [INIT]),  # a batch
        ([], {**INIT, "jsonrpc": "1.0"}),
        ([INIT], {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"cursor": "x"}}),
        ([INIT], {"jsonrpc": "2.0", "id": 2, "method": "ping"}),
        ([INIT], INIT),  # a second initialize
        ([INIT], DISCOVER),  # the other era
        ([DISCOVER], INIT),
        ([], {**DISCOVER, "params": {"_meta": {**DISCOVER["params"]["_meta"], "x": 1}}}),
        (
            [],
            {
                **DISCOVER,
                "params": {
                    "_meta": {
                        **DISCOVER["params"]["_meta"],
                        "io.modelcontextprotocol/protocolVersion": "2099-01-01",
                    }
                },
            },
        ),
        ([DISCOVER], {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {}}),
    ],
)
def test_the_prelude_hands_over_whatever_it_did_not_record(
    before: list[Any], request_: Any
) -> None:
    snapshot = load_snapshot()
    assert snapshot is not None, STALE
    prelude = Prelude(snapshot)
    for message in before:
        assert prelude.answer(_line(message))
    assert prelude.answer(_line(request_)) is None
    assert prelude.answer(b"not json\n") is None


def test_the_replay_is_the_era_deciding_request_and_initialized() -> None:
    snapshot = load_snapshot()
    assert snapshot is not None, STALE
    prelude = Prelude(snapshot)
    init, initialized, listing = (_line(m) for m in legacy_requests("2025-06-18"))
    assert json.loads(prelude.answer(init) or "")["result"]["protocolVersion"] == "2025-06-18"
    assert prelude.answer(initialized) == ""  # kept for the SDK, not answered
    assert json.loads(prelude.answer(listing) or "")["result"]["tools"]
    assert prelude.replay == [init, initialized] and prelude.hidden_id == 1 and prelude.listed
    modern = Prelude(snapshot)
    assert modern.answer(_line(DISCOVER)) and modern.answer(_line(MODERN_LIST))
    assert modern.replay == [_line(DISCOVER)] and modern.hidden_id == 1


# A fault injected into the server process: the SDK's import blocks until the test
# releases it, so that what the server answers before it is known not to need the SDK.
HOLD_SDK = textwrap.dedent(
    """
    import os, sys, time

    class HoldTheSdk:
        def find_spec(self, name, path=None, target=None):
            if name == "mcp":
                open(os.environ["HOLD_STARTED"], "w").close()
                while not os.path.exists(os.environ["HOLD_RELEASE"]):
                    time.sleep(0.01)
            return None

    sys.meta_path.insert(0, HoldTheSdk())
    """
)


@pytest.fixture
def held_server(tmp_path: Path, vault_root: Path) -> Iterator[tuple[RawServer, Path, Path]]:
    hook = tmp_path / "hold"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOLD_SDK)
    started, release = tmp_path / "sdk-started", tmp_path / "sdk-release"
    server = RawServer(
        vault_root,
        tmp_path / "server.log",
        PYTHONPATH=str(hook),
        HOLD_STARTED=str(started),
        HOLD_RELEASE=str(release),
    )
    yield server, started, release
    release.touch()
    server.kill()


def test_tools_list_is_answered_before_the_sdk_loads_and_before_the_index_opens(
    held_server: tuple[RawServer, Path, Path], vault_root: Path
) -> None:
    server, started, release = held_server
    init, initialized, listing = legacy_requests("2025-06-18")
    server.send(init)
    assert server.wait(1)["result"]["serverInfo"]["name"] == "codearchitect"
    server.send(initialized)
    server.send(listing)
    tools = {t["name"] for t in server.wait(2)["result"]["tools"]}
    assert {"store_message", "search_messages", "get_context"} <= tools
    # Both answers came while the SDK's import was held: the server had not loaded it,
    # nor opened the index (which opens once the SDK is loaded).
    assert wait_until(started.exists, step=0.02)
    assert not (vault_root / ".codearchitect" / "index").exists()
    release.touch()
    # The first tool call goes to the SDK, which was given the client's initialize and
    # answers it once only (the prelude's answer was the one the client got).
    stored = server.call("store_message", {"content": "after the hand-over", "role": "user"})
    assert stored["success"], stored
    found = server.call("search_messages", {"query": "hand-over"})
    assert found["success"] and found["total"] == 1, found
    assert 1 not in server._responses and 2 not in server._responses
    assert (vault_root / ".codearchitect" / "index").is_dir()
    server.close()
    assert server.proc.returncode == 0


def test_the_modern_era_is_handed_over_with_its_lock(
    held_server: tuple[RawServer, Path, Path],
) -> None:
    server, _, release = held_server
    discover, listing = modern_requests("2026-07-28")
    server.send(discover)
    assert server.wait(1)["result"]["supportedVersions"] == ["2026-07-28"]
    server.send(listing)
    assert server.wait(2)["result"]["tools"]
    release.touch()
    meta = listing["params"]["_meta"]
    answer = server.request("tools/call", {"name": "index_status", "arguments": {}, "_meta": meta})
    assert answer["result"]["structuredContent"]["success"], answer
    # The SDK serves a 2026-07-28 connection, as the client began it: a late initialize
    # is refused there, as it is without the prelude.
    late = server.request("initialize", INIT["params"])
    assert "error" in late and "2026-07-28" in late["error"]["message"], late
    assert 1 not in server._responses
    server.close()


def test_the_client_leaving_during_the_handshake_ends_the_server_cleanly(
    held_server: tuple[RawServer, Path, Path], vault_root: Path
) -> None:
    server, _, release = held_server
    server.send(INIT)
    assert server.wait(1)["result"]
    release.touch()
    server.close()  # stdin closed: no tool call came
    assert server.proc.returncode == 0
    assert not (vault_root / ".codearchitect" / "index").exists()  # never needed
    assert (vault_root / ".codearchitect" / "sessions").is_dir()  # the vault of the project


def test_serve_arguments_read_without_click(tmp_path: Path) -> None:
    folder, file = tmp_path / "p", tmp_path / "f"
    file.write_text("")
    assert serve_root(["serve"]) == ""
    assert serve_root(["serve", "--root", str(folder)]) == str(folder)
    assert serve_root(["serve", f"--root={folder}"]) == str(folder)
    # click reads (and refuses) the rest
    for args in (
        ["serve", "--root", str(file)],
        ["serve", "--help"],
        ["serve", "--root"],
        ["serve", "--root", ""],
        ["serve", "--root", str(folder), "--root", str(folder)],
        ["serve", "x"],
        ["search", "serve"],
        [],
    ):
        assert serve_root(args) is None, args
    assert CLIENT_INFO["name"]


def test_make_install_records_one_only_when_none_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make install` runs `handshake_record --if-stale --out …`: nothing when the shipped
    recording fits this environment, else a recording made here that fits it."""
    out = tmp_path / "share" / "codearchitect" / "handshake.json"
    handshake_record.main(["--if-stale", "--out", str(out)])
    assert not out.exists()  # the shipped one fits
    monkeypatch.setattr(handshake_record, "load_snapshot", lambda: None)  # another SDK's
    handshake_record.main(["--if-stale", "--out", str(out)])
    assert load_snapshot(out) == json.loads(SNAPSHOT.read_text())  # what the live server says
