"""Start-up order of the server's App: the index opens (and is checked) only once the
server is ready (serve.py)."""

from __future__ import annotations

import threading
from pathlib import Path

from mcp_server.app import App
from tests.helpers.polling import wait_until
from vault import Vault


def test_the_index_opens_only_when_the_hold_is_released(vault_root: Path) -> None:
    Vault(vault_root).append_message("s", "user", "written before the server started")
    app = App(vault_root)
    hold = threading.Event()
    try:
        app.start(background=True, hold=hold)
        threading.Event().wait(0.3)
        assert app._indexes == {}  # nothing read from disk while serve imports the SDK
        hold.set()
        assert wait_until(lambda: app.root in app._indexes, step=0.02)
        index = app.index()
        assert wait_until(lambda: index.checked, step=0.02)  # the whole-file check ran
        assert wait_until(lambda: index.is_leader, step=0.02)
        assert wait_until(lambda: index.search("started").total == 1, step=0.02)
    finally:
        hold.set()
        app.close()


def test_the_handshake_leaves_the_gate_shut_and_the_first_real_request_opens_it() -> None:
    import json

    from mcp_server.serve import handshake_gate

    gate = threading.Event()
    seen = handshake_gate(gate)
    for method in ("initialize", "notifications/initialized", "tools/list", "ping"):
        seen(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": {}}))
    assert not gate.is_set()  # the open waits: nothing competes with the handshake
    seen(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {}}))
    assert gate.is_set()
    for line in ("not json", "[1, 2]"):  # anything unexpected opens it too
        other = threading.Event()
        handshake_gate(other)(line)
        assert other.is_set()
