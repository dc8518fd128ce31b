"""Start-up order of the server's App: open and check the index at once, start the
background indexing only when the server is ready (serve.py)."""

from __future__ import annotations

import threading
from pathlib import Path

from mcp_server.app import App
from tests.helpers.polling import wait_until
from vault import Vault


def test_background_indexing_waits_for_the_hold_but_the_index_opens_at_once(
    vault_root: Path,
) -> None:
    Vault(vault_root).append_message("s", "user", "written before the server started")
    app = App(vault_root)
    hold = threading.Event()
    try:
        app.start(background=True, hold=hold)
        assert wait_until(lambda: app.root in app._indexes, timeout=10, step=0.02)
        index = app._indexes[app.root]
        assert wait_until(
            lambda: index._checked, timeout=10, step=0.02
        )  # opened with the full check
        threading.Event().wait(0.3)
        assert not index.is_leader  # no reconcile, watcher or writer yet
        hold.set()
        assert wait_until(lambda: index.is_leader, timeout=10, step=0.02)
        assert app.index() is index
        assert wait_until(lambda: index.search("started").total == 1, timeout=10, step=0.02)
    finally:
        hold.set()
        app.close()
