"""Scenario 7: hostile input through the MCP tools.

tests/vault/test_security.py feeds traversal strings to the vault's topic and session id,
plants symlinks and parses hostile YAML; here every string argument of every tool gets
the traversal set through the MCP server, every argument gets wrongly typed JSON, symlinks
and hostile files sit in a vault a server indexes, YAML parsing runs under a hard memory
cap (RLIMIT_AS), and a real server process gets oversize content, a 200 MB request line
and invalid UTF-8 on its stdin. Always: a clear error envelope (never UNKNOWN_ERROR, never
a crash), nothing written outside the vault, memory bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_server.app import App
from mcp_server.errors import ERROR_CODES
from mcp_server.server import build_server
from tests.helpers.mcp_text import result_data
from vault import Vault

from .conftest import RawServer, assert_index_equals_files, rss_kb, tree

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
TRAVERSALS = [
    "../escape",
    "../../../../etc/passwd",
    "..\\..\\windows\\system32",
    "/etc/passwd",
    "x\x00y",
    "%2e%2e%2f%2e%2e%2f",
    "．．／．．／",
    "a\u2024\u2024/b",
    "\u202eevil",
    "CON",
    "vault-evil/../../vault-evil",
    "x" * 10_000,
]
# A valid value for each required argument, so the hostile one is the only problem.
VALID: dict[str, Any] = {
    "content": "hi",
    "role": "user",
    "conversation": "User: hi",
    "session": "s",
    "message_id": "m1",
    "query": "hi",
    "agent_id": "a",
    "channel": "c",
    "account_id": "x",
    "peer_kind": "user",
    "peer_id": "p",
}


async def call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    data = result_data(result)
    assert data.get("success") is (not result.is_error), data
    if result.is_error:
        assert data["error"] in ERROR_CODES and data["error"] != "UNKNOWN_ERROR", (tool, data)
        assert "Traceback" not in json.dumps(data)
    return data


def valid(name: str, prop: dict[str, Any]) -> Any:
    """A valid value for a required argument (tools added later get one by type)."""
    if name in VALID:
        return VALID[name]
    types = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", [])}
    if "integer" in types or "number" in types:
        return max(int(prop.get("minimum", 1)), 1)
    if "array" in types:
        return []
    if "object" in types:
        return {}
    return "x"


def required_args(schema: dict[str, Any], skip: str) -> dict[str, Any]:
    props = schema.get("properties", {})
    return {k: valid(k, props.get(k, {})) for k in schema.get("required", []) if k != skip}


def outside(tmp_path: Path, vault_root: Path) -> dict[str, Any]:
    """Everything under the test's folder except the vault itself."""
    return {k: v for k, v in tree(tmp_path).items() if not k.startswith("project/.codearchitect")}


def string_arguments(schema: dict[str, Any]) -> list[str]:
    out = []
    for name, prop in schema.get("properties", {}).items():
        types = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", [])}
        if "string" in types:
            out.append(name)
    return out


def session_files_inside(vault_root: Path) -> None:
    sessions = (vault_root / ".codearchitect" / "sessions").resolve()
    for p in (vault_root / ".codearchitect").rglob("*.md"):
        if "trash" in p.parts:
            continue
        assert p.resolve().parent.parent == sessions, p


async def test_traversal_in_every_string_argument(
    served: tuple[App, Client], vault_root: Path, tmp_path: Path
) -> None:
    _, client = served
    (tmp_path / "vault-evil").mkdir()
    await call(client, "store_message", {"content": "hi", "role": "user", "session": "s"})
    before = outside(tmp_path, vault_root)
    tools = (await client.list_tools()).tools
    tried = 0
    for tool in tools:
        schema = tool.input_schema
        for arg in string_arguments(schema):
            for bad in TRAVERSALS:
                args = required_args(schema, arg)
                args[arg] = bad
                await call(client, tool.name, args)
                tried += 1
    assert tried > 100
    assert outside(tmp_path, vault_root) == before
    session_files_inside(vault_root)
    assert_index_equals_files(vault_root)


WRONG_TYPES: list[Any] = [123, 1.5, True, [], {}, ["a"], {"a": 1}, None, "text"]


async def test_wrong_json_types_for_every_argument(
    served: tuple[App, Client], vault_root: Path, tmp_path: Path
) -> None:
    _, client = served
    before = outside(tmp_path, vault_root)
    for tool in (await client.list_tools()).tools:
        schema = tool.input_schema
        for arg in schema.get("properties", {}):
            for bad in WRONG_TYPES:
                args = required_args(schema, arg)
                args[arg] = bad
                data = await call(client, tool.name, args)
                if not data["success"] and data["error"] == "INVALID_INPUT":
                    assert arg in data["message"] or arg in (data["details"] or ""), data
    # Not an object at all, unknown arguments, a missing required one.
    data = await call(client, "store_message", {"content": "x", "role": "user", "evil": 1})
    assert data["error"] == "INVALID_INPUT"
    data = await call(client, "store_message", {"role": "user"})
    assert data["error"] == "INVALID_INPUT"
    assert outside(tmp_path, vault_root) == before
    session_files_inside(vault_root)


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


async def test_symlinks_inside_the_vault(served: tuple[App, Client], tmp_path: Path) -> None:
    app, client = served
    vault = app.index().vault
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    secret = secret_dir / "id_rsa.md"
    secret.write_text(
        "---\nid: stolen\ncreated: 2025-01-15T14:30:22.123Z\n---\n\n"
        "<!-- cam:msg role=user -->\nhunter2 private key\n<!-- /cam:msg -->\n"
    )
    before = tree(secret_dir)
    # A linked session file in a real date folder: never indexed, never written.
    stored = await call(client, "store_session", {"conversation": "User: hi", "topic": "real"})
    day = Path(stored["file"]).parent
    (day / "session-20250101-000000-link.md").symlink_to(secret)
    app.index().reconcile()
    assert (await call(client, "search_messages", {"query": "hunter2"}))["hits"] == []
    status = await call(client, "index_status", {})
    assert any(m["path"].endswith("-link.md") for m in status["malformed"])
    data = await call(
        client, "store_message", {"content": "new", "role": "user", "session": "stolen"}
    )
    assert data["success"] and not vault.locate("stolen").is_symlink()
    # A linked date folder (today's, where new sessions go): refused.
    day.rename(day.with_name("moved"))
    os.symlink(secret_dir, vault.sessions_dir / today(), target_is_directory=True)
    data = await call(client, "store_session", {"conversation": "User: x", "topic": "t"})
    assert data["error"] == "SYMLINK_REFUSED"
    data = await call(client, "store_message", {"content": "x", "role": "user"})
    assert data["error"] == "SYMLINK_REFUSED"
    assert tree(secret_dir) == before
    assert (await call(client, "search_messages", {"query": "hunter2"}))["hits"] == []


def test_symlinked_vault_folders_are_refused_by_a_server(
    vault_root: Path, tmp_path: Path, raw_servers: Callable[..., RawServer]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (vault_root / ".codearchitect").mkdir()
    os.symlink(elsewhere, vault_root / ".codearchitect" / "sessions", target_is_directory=True)
    server = raw_servers(vault_root)
    server.initialize()
    data = server.call("store_message", {"content": "x", "role": "user", "session": "a"})
    assert data["error"] == "SYMLINK_REFUSED", data
    # Still serving: every tool answers with the same clear code.
    assert server.call("count_messages", {})["error"] == "SYMLINK_REFUSED"
    server.close()
    assert list(elsewhere.iterdir()) == []


HOSTILE_FILES = {
    "python-tag": "---\nid: !!python/object/apply:os.system ['touch {sentinel}']\n"
    "created: 2025-01-01T00:00:00.000Z\n---\n",
    "python-name": "---\nid: x\ncreated: 2025-01-01T00:00:00.000Z\n"
    "evil: !!python/name:os.system\n---\n",
    "alias-bomb": "---\nid: bomb\ncreated: 2025-01-01T00:00:00.000Z\n"
    + 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    + "---\n",
    "huge-frontmatter": "---\nid: huge\ncreated: 2025-01-01T00:00:00.000Z\nblob: '"
    + "x" * (5 * 1024 * 1024)
    + "'\n---\n",
    "duplicate-keys": "---\nid: dup\nid: dup2\ncreated: 2025-01-01T00:00:00.000Z\n---\n",
}


def plant_hostile_files(vault: Vault, sentinel: Path) -> list[str]:
    vault.init()
    day = vault.sessions_dir / "2025-01-01"
    day.mkdir(exist_ok=True)
    names = []
    for name, text in HOSTILE_FILES.items():
        (day / f"{name}.md").write_text(text.replace("{sentinel}", str(sentinel)))
        names.append(f"2025-01-01/{name}.md")
    (day / "invalid-utf8.md").write_bytes(
        b"---\nid: bad\ncreated: 2025-01-01T00:00:00.000Z\n---\n\n"
        b"<!-- cam:msg role=user -->\n\xff\xfe\n<!-- /cam:msg -->\n"
    )
    names.append("2025-01-01/invalid-utf8.md")
    return names


async def test_hostile_yaml_files_are_malformed_and_never_run(
    vault_root: Path, tmp_path: Path
) -> None:
    sentinel = tmp_path / "pwned"
    vault = Vault(vault_root)
    names = plant_hostile_files(vault, sentinel)
    vault.append_message("fine", "user", "a healthy session about zebras")
    app = App(vault_root)
    try:
        async with Client(build_server(app)) as client:
            app.index().reconcile()
            status = await call(client, "index_status", {})
            assert sorted(m["path"] for m in status["malformed"]) == sorted(names)
            hits = await call(client, "search_messages", {"query": "zebras"})
            assert len(hits["hits"]) == 1
            for sid in ("bomb", "huge", "dup"):
                before = tree(vault.sessions_dir / "2025-01-01")
                data = await call(
                    client, "store_message", {"content": "x", "role": "user", "session": sid}
                )
                assert not data["success"]
                assert data["error"] in ("MALFORMED_SESSION_FILE", "SESSION_NOT_FOUND"), data
                assert tree(vault.sessions_dir / "2025-01-01") == before
            # Hostile YAML as argument values is just text.
            payload = f"!!python/object/apply:os.system ['touch {sentinel}'] &a [*a]"
            await call(
                client, "store_message", {"content": payload, "role": "user", "session": "y"}
            )
            data = await call(
                client, "patch_session", {"session": "y", "title": payload, "tags": [payload]}
            )
            assert data["session"]["title"] == payload
            got = await call(client, "get_session", {"session": "y"})
            assert got["messages"][0]["content"] == payload
    finally:
        app.close()
    assert not sentinel.exists()


CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
from indexer import Indexer
from vault import Vault, MalformedSessionFile, parse
vault = Vault(sys.argv[1])
for path in vault.session_paths():
    try:
        parse(path.read_bytes(), path)
    except MalformedSessionFile:
        pass
with Indexer(vault) as ix:
    ix.reconcile()
    print(len(ix.status().malformed))
"""


def test_hostile_yaml_parses_under_a_memory_cap(vault_root: Path, tmp_path: Path) -> None:
    """Parsing and indexing the hostile files in a child whose address space is capped:
    an alias bomb or a 5 MB frontmatter that expanded would hit MemoryError."""
    sentinel = tmp_path / "pwned"
    plant_hostile_files(Vault(vault_root), sentinel)
    cap = 1024 * 1024 * 1024  # address space, not resident memory: Python + tantivy need room
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD.format(cap=cap)), str(vault_root)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(len(HOSTILE_FILES) + 1)
    assert not sentinel.exists()


def test_oversize_content_and_invalid_utf8_over_stdio(
    vault_root: Path, raw_servers: Callable[..., RawServer]
) -> None:
    server = raw_servers(vault_root)
    server.initialize()
    mb = 1024 * 1024
    # 1 MB + 1: cut at a character boundary, with a warning.
    content = "a" * (mb - 1) + "é"  # the 2-byte character straddles the cut
    data = server.call("store_message", {"content": content, "role": "user", "session": "big"})
    assert data["success"] and "truncated" in data["warning"].lower()
    stored = Vault(vault_root).get("big").messages[0].content
    assert stored == "a" * (mb - 1)
    data = server.call("store_session", {"conversation": "User: " + "b" * mb, "topic": "big"})
    assert data["success"] and "1MB" in data["warning"]
    files_before = tree(vault_root / ".codearchitect" / "sessions")
    # 10 MB + 1: refused, nothing written.
    ten = "c" * (10 * mb + 1)
    data = server.call("store_message", {"content": ten, "role": "user", "session": "huge"})
    assert data["error"] == "INVALID_INPUT"
    data = server.call("store_message", {"content": ten, "role": "user", "session": "big"})
    assert data["error"] == "INVALID_INPUT"
    data = server.call("store_session", {"conversation": "User: " + ten})
    assert data["error"] == "INVALID_INPUT"
    assert tree(vault_root / ".codearchitect" / "sessions") == files_before
    # Invalid UTF-8 inside a request: refused, never stored as repaired text.
    rid = server.new_id()
    server.write(
        b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"store_message",'
        b'"arguments":{"content":"ab\xff\xfecd","role":"user","session":"utf"}}}\n' % rid
    )
    answer = server.wait(rid)
    assert "error" in answer and "invalid-utf8" in json.dumps(answer), answer
    assert "utf" not in Vault(vault_root).session_ids()
    assert server.call("count_messages", {})["success"]  # still serving
    server.close()
    assert_index_equals_files(vault_root)


def test_200_mb_request_line_keeps_memory_bounded(
    vault_root: Path, raw_servers: Callable[..., RawServer]
) -> None:
    server = raw_servers(vault_root)
    server.initialize()
    assert server.call("store_message", {"content": "before", "role": "user", "session": "s"})[
        "success"
    ]
    baseline = rss_kb(server.pid)
    rid = server.new_id()
    head = (
        b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"store_message",'
        b'"arguments":{"role":"user","session":"s","content":"' % rid
    )
    chunk = b"z" * (1024 * 1024)
    peak = [baseline]
    done = threading.Event()

    def feed() -> None:
        server.write(head)
        for _ in range(200):
            server.write(chunk)
        server.write(b'"}}}\n')
        done.set()

    writer = threading.Thread(target=feed)
    writer.start()
    while not done.is_set():
        peak[0] = max(peak[0], rss_kb(server.pid))
        time.sleep(0.02)
    writer.join()
    answer = server.wait(rid, timeout=60)
    peak[0] = max(peak[0], rss_kb(server.pid))
    assert "error" in answer, str(answer)[:500]
    assert "oversize" in json.dumps(answer)
    # The server still answers, and nothing of the huge line was stored.
    assert server.call("store_message", {"content": "after", "role": "user", "session": "s"})[
        "success"
    ]
    messages = server.call("get_messages", {"session": "s"})["messages"]
    assert [m["content"] for m in messages] == ["before", "after"]
    assert peak[0] < 300 * 1024, f"server RSS reached {peak[0] // 1024} MB"
    assert peak[0] - baseline < 100 * 1024, f"RSS grew by {(peak[0] - baseline) // 1024} MB"
    server.close()
