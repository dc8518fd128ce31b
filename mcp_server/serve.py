"""`codearchitect serve`: start the MCP server on stdio, with a banner on a terminal."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import anyio

from .app import App

__all__ = ("run_server",)


def run_server(root: Path | str | None = None) -> None:
    """Serve until stdin closes. Only protocol goes to stdout; logs and banner to stderr."""
    logging.basicConfig(
        level=os.environ.get("CODEARCHITECT_LOG_LEVEL", "WARNING"),
        stream=sys.stderr,
        format="codearchitect %(levelname)s %(name)s: %(message)s",
    )
    app = App(root)
    if sys.stderr.isatty():
        sys.stderr.write(banner(app))
        sys.stderr.flush()
    # The index opens in a background thread, and only once the client's handshake is
    # answered (see App.start and `handshake_gate`): initialize and tools/list never wait
    # for it nor compete with it for the CPU.
    gate = threading.Event()
    app.start(background=True, hold=gate)
    timer = threading.Timer(OPEN_AFTER_S, gate.set)
    timer.daemon = True
    try:
        from .server import build_server
        from .stdio import MAX_LINE_BYTES, serve_stdio

        server = build_server(app)
        timer.start()
        anyio.run(serve_stdio, server, MAX_LINE_BYTES, handshake_gate(gate))
    except KeyboardInterrupt:
        pass
    finally:
        timer.cancel()
        gate.set()
        app.close()


# What a client sends before its first real request; nothing of it needs the index.
HANDSHAKE = frozenset(
    {
        "initialize",
        "notifications/initialized",
        "ping",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "logging/setLevel",
    }
)
OPEN_AFTER_S = 1.0  # the index opens this long after the SDK is ready, if nothing asked sooner


def handshake_gate(gate: threading.Event) -> Callable[[str], None]:
    """Shown each incoming line: the first one that is not part of the handshake (a tool
    call, a resource read, anything unparsable) opens `gate` at once."""

    def seen(line: str) -> None:
        if gate.is_set():
            return
        try:
            method = json.loads(line).get("method")
        except (ValueError, AttributeError):  # not JSON, or a batch
            method = None
        if method not in HANDSHAKE:
            gate.set()

    return seen


def banner(app: App) -> str:
    script = Path(sys.executable).parent / "codearchitect"
    exe = str(script) if script.exists() else "codearchitect"
    try:
        sessions = str(app.index().status().sessions)
    except Exception:
        sessions = "?"
    lines = [
        "codearchitect MCP server (stdio)",
        f"  project root : {app.root}",
        f"  sessions     : {sessions} indexed",
        f"  vault        : {app.root / '.codearchitect'}",
        f"  register     : claude mcp add codearchitect -- {exe} serve --root {app.root}",
        "  waiting for an MCP client on stdin (Ctrl-C to stop)",
        "",
    ]
    if app.root_warning is not None:
        lines.insert(1, f"  warning      : {app.root_warning.message}")
    return "\n".join(lines) + "\n"
