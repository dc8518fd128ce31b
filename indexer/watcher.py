"""Watching the session folders: watchdog events in, debounced change batches out.

Shaped like `watchfiles.watch()`: a generator that yields `set[FileChange]` batches until
`stop_event.is_set()`. The watchdog handler only enqueues; the generator drains, scans
new folders, debounces and filters. Events are hints: the indexer re-reads each path.

A batch holding `RESCAN` means events may have been lost (inotify queue overflow, an
observer that died, the watched folder replaced, a fall-back to polling): the consumer
should reconcile everything.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import ClassVar, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

__all__ = ("RESCAN", "Change", "FileChange", "SessionFileFilter", "WatchState", "watch")

log = logging.getLogger("codearchitect.indexer.watcher")

RESCAN = "<rescan>"
_OVERFLOW_LOGGERS = ("watchdog.observers.inotify_c", "watchdog.observers.inotify")
_HEALTH_SECONDS = 1.0


class Change(IntEnum):
    """What happened to a path."""

    added = 1
    modified = 2
    deleted = 3


FileChange = tuple[Change, str]


class StopEvent(Protocol):
    def is_set(self) -> bool: ...


class SessionFileFilter:
    """Keep session files; drop temp, swap and backup files of us, editors and git."""

    ignore_dirs: ClassVar[Sequence[str]] = (".git", "__pycache__")
    ignore_entity_patterns: ClassVar[Sequence[str]] = (
        r"^\.~cam-",  # our own temp files
        r"\.sw[a-p]$",  # vim swap files
        r"~$",  # backups (vim, emacs, nano)
        r"^4913$",  # vim's write probe
        r"^\.#",  # emacs lock files
        r"\.tmp$",
        r"^\.",  # any other hidden file (the vault never names a session so)
    )

    def __init__(
        self,
        *,
        ignore_dirs: Sequence[str] | None = None,
        ignore_entity_patterns: Sequence[str] | None = None,
        extensions: Sequence[str] = (".md",),
    ) -> None:
        self._ignore_dirs = set(self.ignore_dirs if ignore_dirs is None else ignore_dirs)
        patterns = self.ignore_entity_patterns
        if ignore_entity_patterns is not None:
            patterns = ignore_entity_patterns
        self._patterns = [re.compile(p) for p in patterns]
        self._extensions = tuple(extensions)

    def __call__(self, change: Change, path: str) -> bool:
        parts = Path(path).parts
        if any(p in self._ignore_dirs for p in parts[:-1]):
            return False
        name = parts[-1] if parts else ""
        if any(p.search(name) for p in self._patterns):
            return False
        return name.endswith(self._extensions)


@dataclass
class WatchState:
    """What the watcher is doing, for `status()`: 'inotify' (native) or 'polling'."""

    mode: str | None = None
    rescans: int = 0


def watch(
    root: Path | str,
    *,
    stop_event: StopEvent,
    watch_filter: Callable[[Change, str], bool] | None = None,
    debounce_ms: int = 200,
    step_ms: int = 25,
    force_polling: bool | None = None,
    poll_interval: float = 0.5,
    state: WatchState | None = None,
    observer_factory: Callable[[], BaseObserver] | None = None,
    on_ready: Callable[[], object] | None = None,
) -> Iterator[set[FileChange]]:
    """Yield batches of changes under `root` (recursively) until `stop_event` is set.

    Args:
        debounce_ms: the longest a batch waits for more events once one arrived.
        step_ms: a batch is yielded as soon as no event came for this long.
        force_polling: use stat polling instead of inotify (default:
            `$CODEARCHITECT_FORCE_POLLING`); used anyway when inotify runs out of watches.
        observer_factory: build the native observer (tests inject failures here).
        on_ready: called once the observer watches `root`: every change from then on
            comes as an event, so a full scan started now misses nothing.
    """
    root = Path(root)
    state = state or WatchState()
    watch_filter = watch_filter or SessionFileFilter()
    events: queue.SimpleQueue[tuple[Change | str, str]] = queue.SimpleQueue()
    handler = _Handler(events)
    overflow = _OverflowHook(events)
    for name in _OVERFLOW_LOGGERS:
        logging.getLogger(name).addHandler(overflow)
    polling = _default_force_polling() if force_polling is None else force_polling
    factory = observer_factory or Observer
    observer, polling = _start(root, handler, polling, poll_interval, factory, events)
    state.mode = "polling" if polling else "inotify"
    root_ino = _inode(root)
    if on_ready is not None:
        on_ready()
    next_health = time.monotonic() + _HEALTH_SECONDS
    try:
        batch: set[FileChange] = set()
        first = last = 0.0
        while not stop_event.is_set():
            try:
                item: tuple[Change | str, str] | None = events.get(timeout=step_ms / 1000)
            except queue.Empty:
                item = None
            now = time.monotonic()
            while item is not None:
                _add(batch, item, watch_filter)
                first = first or now
                last = now
                try:
                    item = events.get_nowait()
                except queue.Empty:
                    item = None
            if now >= next_health:
                next_health = now + _HEALTH_SECONDS
                ino = _inode(root)
                if not observer.is_alive() or ino != root_ino:
                    log.warning("watcher restarting (observer alive=%s)", observer.is_alive())
                    _stop(observer)
                    root_ino = ino
                    if ino is not None:
                        observer, polling = _start(
                            root, handler, polling, poll_interval, factory, events
                        )
                        state.mode = "polling" if polling else "inotify"
                    batch.add((Change.modified, RESCAN))
                    first = first or now
            if batch and (now - last >= step_ms / 1000 or now - first >= debounce_ms / 1000):
                if any(path == RESCAN for _, path in batch):
                    state.rescans += 1
                yield batch
                batch = set()
                first = last = 0.0
    finally:
        _stop(observer)
        for name in _OVERFLOW_LOGGERS:
            logging.getLogger(name).removeHandler(overflow)


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's dispatcher thread: translate and enqueue, never raise."""

    def __init__(self, events: queue.SimpleQueue[tuple[Change | str, str]]) -> None:
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._translate(event)
        except Exception:  # an exception here would kill the observer thread
            log.exception("watcher handler failed")
            self.events.put((Change.modified, RESCAN))

    def _translate(self, event: FileSystemEvent) -> None:
        put = self.events.put
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        kind = event.event_type
        if event.is_directory:
            if kind == "created":
                put(("scan", src))
            elif kind == "moved":
                put((Change.modified, RESCAN))
                put(("scan", dest))
            elif kind == "deleted":
                put((Change.modified, RESCAN))
            return
        if kind == "moved":
            put((Change.deleted, src))
            put((Change.added, dest))
        elif kind == "created":
            put((Change.added, src))
        elif kind in ("modified", "closed"):
            put((Change.modified, src))
        elif kind == "deleted":
            put((Change.deleted, src))


class _OverflowHook(logging.Handler):
    """watchdog reports a lost-events overflow only in its log: turn that into RESCAN."""

    def __init__(self, events: queue.SimpleQueue[tuple[Change | str, str]]) -> None:
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.events.put((Change.modified, RESCAN))


def _add(
    batch: set[FileChange],
    item: tuple[Change | str, str],
    watch_filter: Callable[[Change, str], bool],
) -> None:
    kind, path = item
    if kind == "scan":
        # A new folder: its watch exists already, so files created before it are listed here.
        try:
            names = os.listdir(path)
        except OSError:
            return
        for name in names:
            full = os.path.join(path, name)
            if os.path.isdir(full) and not os.path.islink(full):
                _add(batch, ("scan", full), watch_filter)
            elif watch_filter(Change.added, full):
                batch.add((Change.added, full))
        return
    assert isinstance(kind, Change)
    if path == RESCAN or watch_filter(kind, path):
        batch.add((kind, path))


def _start(
    root: Path,
    handler: _Handler,
    polling: bool,
    poll_interval: float,
    factory: Callable[[], BaseObserver],
    events: queue.SimpleQueue[tuple[Change | str, str]],
) -> tuple[BaseObserver, bool]:
    if not polling:
        observer: BaseObserver | None = None
        try:
            observer = factory()
            observer.schedule(handler, str(root), recursive=True)
            observer.start()
            return observer, False
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EMFILE, errno.ENOMEM):
                raise
            log.warning("inotify unavailable (%s); falling back to polling", exc)
            if observer is not None:
                _stop(observer)
            events.put((Change.modified, RESCAN))
    observer = PollingObserver(timeout=poll_interval)
    observer.schedule(handler, str(root), recursive=True)
    observer.start()
    return observer, True


def _stop(observer: BaseObserver) -> None:
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout=5)
    except RuntimeError:  # never started
        pass


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _default_force_polling() -> bool:
    return os.environ.get("CODEARCHITECT_FORCE_POLLING", "").lower() in ("1", "true", "yes")
