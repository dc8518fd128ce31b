"""The leader's embedding thread (`EmbedWorker`): embeds pending messages a batch at a
time until none is left, then polls; now and then, when idle, compacts the vector store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .index import SemanticIndex
from .models import SemanticUnavailable

__all__ = ("EmbedWorker",)

log = logging.getLogger("codearchitect.indexer.semantic")

COMPACT_EVERY = 60.0  # seconds between the embedding thread's compaction checks
COMPACT_MIN_DEAD = 1024
COMPACT_MIN_SHARE = 0.2


class EmbedWorker:
    """The leader's embedding thread: batches until nothing is pending, then polls."""

    def __init__(
        self, semantic: SemanticIndex, leading: Callable[[], bool], interval: float = 0.5
    ) -> None:
        self.semantic = semantic
        self._leading = leading
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_compact_check = time.monotonic()
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="codearchitect-embed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self.semantic.close_writer()

    def kick(self) -> None:
        self._wake.set()

    def _maybe_compact(self) -> None:
        """Now and then, when idle: drop dead vector rows once they are many."""
        now = time.monotonic()
        if now - self._last_compact_check < COMPACT_EVERY:
            return
        self._last_compact_check = now
        try:
            if self._leading() and self.semantic.enabled:
                self.semantic.compact(min_dead=COMPACT_MIN_DEAD, min_share=COMPACT_MIN_SHARE)
        except Exception as exc:  # keep serving; try again later
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("vector compaction failed")

    def _run(self) -> None:
        while not self._stop.is_set():
            done = 0
            try:
                if self._leading() and self.semantic.enabled:
                    done = self.semantic.embed_pending(stop=self._stop)
                self.last_error = None
            except SemanticUnavailable as exc:
                if self.last_error != str(exc):
                    log.warning("semantic search is enabled but cannot run: %s", exc)
                self.last_error = str(exc)
                self._stop.wait(5.0)
            except Exception as exc:  # keep serving; report through status()
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("embedding failed; retrying")
                self._stop.wait(1.0)
            if done:
                continue
            self._maybe_compact()
            self._wake.wait(self.interval)
            self._wake.clear()
