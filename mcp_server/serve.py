"""`codearchitect serve`: start the MCP server on stdio, with a banner on a terminal."""

from __future__ import annotations

import logging
import os
import sys
import threading
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
    # The index opens in a background thread once the MCP SDK (most of the start-up time)
    # is loaded, so initialize and tools/list never wait for it (see App.start).
    loaded = threading.Event()
    app.start(background=True, hold=loaded)
    try:
        from .server import build_server
        from .stdio import serve_stdio

        server = build_server(app)
    finally:
        loaded.set()
    try:
        anyio.run(serve_stdio, server)
    except KeyboardInterrupt:
        pass
    finally:
        app.close()


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
