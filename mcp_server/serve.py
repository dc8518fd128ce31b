"""`codearchitect serve`: start the MCP server on stdio, with a banner on a terminal."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .handshake import MAX_LINE_BYTES, Prelude, load_snapshot

if TYPE_CHECKING:
    from .app import App

__all__ = ("run_server",)


def run_server(root: Path | str | None = None) -> None:
    """Serve until stdin closes. Only protocol goes to stdout; logs and banner to stderr."""
    logging.basicConfig(
        level=os.environ.get("CODEARCHITECT_LOG_LEVEL", "WARNING"),
        stream=sys.stderr,
        format="codearchitect %(levelname)s %(name)s: %(message)s",
    )
    snapshot = None if sys.stderr.isatty() else load_snapshot()
    if snapshot is None:
        _serve_after_sdk(root)
    else:
        _serve_with_prelude(root, snapshot)


def _serve_after_sdk(root: Path | str | None) -> None:
    """The SDK answers everything: on a terminal (the banner opens the index first), or
    without a recording of the handshake that fits this code (handshake.py)."""
    import anyio

    from .app import App

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
        from .stdio import serve_stdio

        server = build_server(app)
        timer.start()
        anyio.run(serve_stdio, server, MAX_LINE_BYTES, handshake_gate(gate))
    except KeyboardInterrupt:
        pass
    finally:
        timer.cancel()
        app.close()


class _Loader(threading.Thread):
    """Loads the SDK and builds the server beside the prelude; then lets the index open
    (at once if the prelude has answered tools/list, else as `_serve_after_sdk` does)."""

    def __init__(self, root: Path | str | None, prelude: Prelude) -> None:
        super().__init__(name="codearchitect-load", daemon=True)
        self.root = root
        self.prelude = prelude
        self.gate = threading.Event()
        self.timer = threading.Timer(OPEN_AFTER_S, self.gate.set)
        self.timer.daemon = True
        self.app: App | None = None
        self.server: Any = None
        self.failure: BaseException | None = None
        self.stopping = False  # the client left: the index need not open

    def run(self) -> None:
        try:
            from .app import App

            self.app = App(self.root)
            self.app.start(background=True, hold=self.gate)
            from .server import build_server
            from .stdio import serve_stdio  # noqa: F401  (loaded here, used on the main thread)

            self.server = build_server(self.app)
            if self.stopping:
                return
            if self.prelude.listed:
                self.gate.set()
            else:
                self.timer.start()
        except BaseException as exc:
            self.failure = exc


def _serve_with_prelude(root: Path | str | None, snapshot: dict[str, Any]) -> None:
    """Answer the handshake from the recording while the SDK loads, then hand the
    connection to the SDK at the first other request (handshake.py)."""
    prelude = Prelude(snapshot)
    loader = _Loader(root, prelude)
    loader.start()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    pending: list[bytes] = []
    try:
        while True:
            raw = stdin.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return  # the client left during the handshake
            answer = prelude.answer(raw) if len(raw) <= MAX_LINE_BYTES else None
            if answer is None:
                pending = [*prelude.replay, raw]
                break
            if answer:
                stdout.write(answer.encode("utf-8") + b"\n")
                stdout.flush()
        loader.join()
        if loader.failure is not None:
            raise loader.failure
        import anyio

        from .stdio import serve_stdio

        seen = handshake_gate(loader.gate)
        anyio.run(serve_stdio, loader.server, MAX_LINE_BYTES, seen, pending, prelude.hidden_id)
    except KeyboardInterrupt:
        pass
    finally:
        loader.stopping = True
        loader.join()
        loader.timer.cancel()
        if loader.app is not None:
            loader.app.close()


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
        "server/discover",
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
