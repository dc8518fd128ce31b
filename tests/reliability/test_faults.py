"""Scenario 2: injected I/O failures through the MCP tools, with the index running.

tests/vault/test_faults.py injects ENOSPC/EIO into the vault's OS calls (`vault.files.IO`)
and checks the vault; here every writing tool is called through the MCP server (in
process, so the fault can be injected) and the k-th write/fsync/replace/link/ftruncate
call fails, for k = 1, 2, … until the tool succeeds. Each failure must be a clean
FILE_WRITE_ERROR envelope with nothing acknowledged: every file under the vault's
sessions/ and trash/ byte-identical, no temp file left, the failed write not searchable,
and the index equal to the files. That last one is polled: a failed delete_session moved
the file to the trash and back, and the running watcher may have indexed the moment it
was away (the file really was gone); it must then index its return by itself.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from indexer.dump import expected_dump
from mcp_server.app import App
from vault import files as vfiles

from .conftest import temp_files, tree, wait_until

pytestmark = pytest.mark.anyio

STEPS = ("write", "fsync", "replace", "link", "ftruncate")


async def call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    data = dict(result.structured_content or {})
    assert data.get("success") is (not result.is_error), data
    return data


def inject(monkeypatch: pytest.MonkeyPatch, k: int, err: int) -> dict[str, Any]:
    """Make the k-th call to any of the vault's OS write steps fail with `err`."""
    seen: dict[str, Any] = {"n": 0, "failed": None}
    for name in STEPS:
        real = getattr(vfiles.IO, name)

        def fake(*args: Any, _real: Callable[..., Any] = real, _name: str = name) -> Any:
            seen["n"] += 1
            if seen["n"] == k:
                seen["failed"] = _name
                raise OSError(err, f"injected {errno.errorcode[err]}")
            return _real(*args)

        monkeypatch.setattr(vfiles.IO, name, fake)
    return seen


# Each operation: (tool, arguments); `{mid}` is a message id of session "s", `{k}` the attempt.
OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "append": ("store_message", {"content": "faultword{k}", "role": "user", "session": "s"}),
    "append_creates_named": (
        "store_message",
        {"content": "faultword{k}", "role": "user", "session": "new-{k}"},
    ),
    "append_creates_generated": ("store_message", {"content": "faultword{k}", "role": "user"}),
    "store_session": (
        "store_session",
        {"conversation": "User: faultword{k}\nAI: reply", "topic": "faults"},
    ),
    "store_session_into_existing": (
        "store_session",
        {"conversation": "User: faultword{k}", "session_id": "s"},
    ),
    "patch_session": ("patch_session", {"session": "s", "title": "faultword{k}"}),
    "delete_message": ("delete_message", {"message_id": "{mid}"}),
    "delete_session": ("delete_session", {"session": "s"}),
    "get_or_create_session": (
        "get_or_create_session",
        {
            "agent_id": "a",
            "channel": "c",
            "account_id": "x",
            "peer_kind": "user",
            "peer_id": "faultword{k}",
        },
    ),
}


def durable(folder: Path) -> dict[str, Any]:
    """The vault's files that matter: sessions and trash (locks and journal are local)."""
    return {"sessions": tree(folder / "sessions"), "trash": tree(folder / "trash")}


def fill(value: Any, k: int, mid: str) -> Any:
    if isinstance(value, str):
        return value.replace("{k}", str(k)).replace("{mid}", mid)
    return value


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO], ids=["ENOSPC", "EIO"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_fail_each_io_step_through_the_server(
    served: tuple[App, Client], monkeypatch: pytest.MonkeyPatch, operation: str, err: int
) -> None:
    app, client = served
    first = await call(client, "store_message", {"content": "kept", "role": "user", "session": "s"})
    await call(client, "store_message", {"content": "also kept", "role": "user", "session": "s"})
    mid = first["message"]["id"]
    vault = app.index().vault
    tool, template = OPERATIONS[operation]
    failed_steps = []
    for k in range(1, 30):
        before = durable(vault.dir)
        args = {key: fill(value, k, mid) for key, value in template.items()}
        seen = inject(monkeypatch, k, err)
        data = await call(client, tool, args)
        monkeypatch.undo()
        if seen["failed"] is None:
            assert data["success"], data
            break
        failed_steps.append(seen["failed"])
        assert data["error"] == "FILE_WRITE_ERROR", (k, seen, data)
        assert "injected" in (data["details"] or "") or data["message"]
        assert durable(vault.dir) == before, (
            f"a failed {tool} changed the vault (step {seen['failed']}, call {k})"
        )
        assert not temp_files(vault.root)
        hits = await call(client, "search_messages", {"query": f"faultword{k}"})
        assert hits["hits"] == [], "a write that was never acknowledged is searchable"
        assert wait_until(lambda: app.index().dump() == expected_dump(vault))
    else:
        pytest.fail("the operation never succeeded")
    assert failed_steps, "no I/O step was ever injected"
    # After the faults, everything still agrees.
    app.index().reconcile()
    assert app.index().dump() == expected_dump(vault)
    status = await call(client, "index_status", {})
    assert status["acked_missing"] == []
