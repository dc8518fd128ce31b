"""The server's state: the default project, the registry, one open index per project."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vault import Vault, VaultWarning, find_project_root

from .projects import Registry

if TYPE_CHECKING:
    from indexer import Indexer

__all__ = ("App",)

log = logging.getLogger("codearchitect.app")


class App:
    """Opens each project's vault and index once and shares them between tool calls."""

    def __init__(self, root: str | Path | None = None, registry: Registry | None = None) -> None:
        found = find_project_root(root)
        self.root = found.path
        self.root_warning: VaultWarning | None = found.warning
        self.registry = registry or Registry()
        self._indexes: dict[Path, Indexer] = {}
        self._lock = threading.Lock()
        self._started = False
        self._closing = False
        self._hold: threading.Event | None = None
        self._opener: threading.Thread | None = None

    def index(self, project: str | None = None) -> Indexer:
        """The open index of `project` (a registered name or a root path; None: the default)."""
        from indexer import Indexer

        root = self.registry.resolve(project, self.root)
        with self._lock:
            index = self._indexes.get(root)
            if index is None:
                index = Indexer(Vault(root)).open()
                if self._started:
                    index.start()
                self._indexes[root] = index
            return index

    def start(self, *, background: bool = False, hold: threading.Event | None = None) -> None:
        """Open the default project and start background indexing (reconcile, watcher) for
        it and for every project opened later. Only the first call does anything.

        With `background=True` the opening runs in a thread, so that `serve` answers
        `initialize` and `tools/list` at once however large the vault (a started index
        then checks the SQLite mirror on its own thread, reading it whole); tool calls
        wait for the open. With `hold`,
        that thread waits until `hold` is set: `serve` sets it once the client's handshake
        (initialize, tools/list) is done, at the first other request or a second after the
        MCP SDK is loaded, because the open competes with the import and the handshake:
        the whole-file check reads the mirror from disk when it is not in the page cache
        (7.9 s at 400,000 messages on this machine's disk), which slowed the SDK's import
        from 1.4 s to 8 s, and a reconcile contends for the GIL (tools/list on an indexed
        400k vault: 1.3 s median when the open began right after the import).
        """
        with self._lock:
            if self._started:
                return
            self._started = True
            self._hold = hold
            indexes = list(self._indexes.values())
        if background:
            self._opener = threading.Thread(
                target=self._open_default,
                args=(indexes, hold),
                name="codearchitect-open",
                daemon=True,
            )
            self._opener.start()
        else:
            self._open_default(indexes, hold)

    def _open_default(self, indexes: list[Indexer], hold: threading.Event | None) -> None:
        if hold is not None:
            hold.wait(timeout=60)
            if self._closing:
                # Stopped before the index was needed: nothing to open or check, but the
                # project served has its vault, as if a call had come.
                self._report(lambda: Vault(self.root).init())
                return
        for index in indexes:
            index.start()
        self._report(self.index)

    def _report(self, opening: Callable[[], object]) -> None:
        try:
            opening()
        except Exception as exc:
            # Keep serving: every tool call retries the open and returns this error's code
            # (e.g. SYMLINK_REFUSED for a linked vault folder) instead of a dead server.
            code = getattr(exc, "code", type(exc).__name__)
            log.error("cannot open the project at %s: [%s] %s", self.root, code, exc)

    def close(self) -> None:
        self._closing = True
        if self._hold is not None:
            self._hold.set()
        if self._opener is not None:
            self._opener.join()
        with self._lock:
            indexes = list(self._indexes.values())
            self._indexes.clear()
        for index in indexes:
            try:
                index.close()
            except Exception:  # closing must never mask the reason we are stopping
                log.exception("error while closing an index")
