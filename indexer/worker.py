"""Background work of one process: leadership, full-text absorption, watching, reconciling.

Exactly one process per project leads: the one holding the kernel lock
`index/leader.lock` (non-blocking `filelock`; the kernel drops it when the process dies).
The leader owns the tantivy writer, runs the watcher and the periodic reconcile, and
absorbs `fulltext_queue` into tantivy. Followers retry the lock every
`leader_retry` seconds and take over, with a temp-file sweep and a full reconcile, when
the leader is gone.

The leader also keeps the mirror whole while it runs: when a query met a damaged page (the
`.check` marker next to the database, or `request_repair` in this process) it checks the
whole file and, if it is damaged, moves it aside and makes a new one (`Mirror.repair`,
what a start does). Whenever the file at the mirror's path is not the one it led on (its
own repair, another process's, or the index folder deleted), it leads again from scratch:
the full-text index is recreated from the new mirror and every session file read again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout

from vault.derived import claim_dir, claim_file

from .fulltext import FullText
from .mirror import Identity, Mirror, get_state, identity_of
from .settings import IndexSettings
from .sync import Syncer
from .watcher import RESCAN, FileChange, WatchState, watch

__all__ = ("Leadership", "Worker")

log = logging.getLogger("codearchitect.indexer.worker")


class Leadership:
    """The non-blocking kernel lock that elects the one writer of derived state."""

    def __init__(self, path: Path, root: Path | None = None) -> None:
        self.path = path
        self.root = root  # `.codearchitect/`: the lock's folder is claimed below it
        self._lock = FileLock(path, thread_local=False, blocking=False)
        self._locked: tuple[int, int] | None = None  # (device, inode) of the file we lock

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def try_acquire(self) -> bool:
        if self._lock.is_locked:
            return True
        if self.root is not None:
            claim_dir(self.path.parent, self.root)  # the index folder may have been deleted
        claim_file(self.path)  # a planted link or FIFO would keep every process a follower
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            return False
        self._locked = identity_of(self.path)
        return True

    def lost(self) -> bool:
        """Held, but the file at the lock's path is not the one locked (deleted with the
        index folder, say): another process can lock the new one, so this one must not go
        on leading."""
        return self._lock.is_locked and identity_of(self.path) != self._locked

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


class Worker:
    """The background thread(s) of a started `Indexer`."""

    def __init__(
        self,
        *,
        mirror: Mirror,
        fulltext: FullText,
        syncer: Syncer,
        leadership: Leadership,
        settings: IndexSettings,
        lead: Callable[[], bool],
        git_lock: Path,
    ) -> None:
        self.mirror = mirror
        self.fulltext = fulltext
        self.syncer = syncer
        self.leadership = leadership
        self.settings = settings
        self._lead = lead
        self._git_lock = git_lock
        self.watch_state = WatchState()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._applied = threading.Condition()
        self._reconcile_needed = threading.Event()
        self._repair_needed = threading.Event()
        self._led_on: Identity | None = None  # the mirror file the full-text writer follows
        self._thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._next_reconcile = 0.0
        self.last_error: str | None = None
        self._check_first = False
        self.checked = threading.Event()  # the start's whole-file check is done

    # ------------------------------------------------------------------ control

    def start(self, *, check: bool = False) -> None:
        """Lead if no other process does, and start the thread. `check`: first check the
        whole mirror on that thread (`Mirror.repair`, what `Mirror.open(check=True)` does),
        before any reconcile, instead of in the caller (~1 s at 400,000 messages)."""
        self._check_first = check
        if not check:
            self.checked.set()
        if self.leadership.held or self._lead():
            self._became_leader()
        self._thread = threading.Thread(target=self._run, name="codearchitect-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._watcher):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=10)

    def kick(self) -> None:
        """Something was queued: absorb it now (leader) instead of at the next poll."""
        self._wake.set()

    def request_repair(self) -> None:
        """A query met a damaged mirror: the leader checks it now (a follower tries to
        take the lead at once, in case the leader is gone)."""
        self._repair_needed.set()
        self._wake.set()

    def request_reconcile(self) -> None:
        self._reconcile_needed.set()
        self._wake.set()

    def wait_applied(self, target: int, timeout: float) -> bool:
        """Wait until the full-text index holds every queue entry up to `target`."""
        deadline = time.monotonic() + timeout
        while True:
            with self.mirror.read() as conn:
                applied = int(get_state(conn, "fulltext_seq") or 0)
            if applied >= target:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wake.set()
            with self._applied:
                self._applied.wait(min(remaining, 0.05))

    # ------------------------------------------------------------------ the loop

    def _check_mirror(self) -> None:
        try:
            aside = self.mirror.repair()
            if aside is not None:
                log.warning("the damaged mirror was moved to %s; rebuilding from the files", aside)
        except Exception:  # e.g. locked: a query that meets damage leaves the marker
            log.exception("the start's check of the mirror failed")
        finally:
            self.checked.set()

    def _run(self) -> None:
        if self._check_first:
            self._check_mirror()
        next_try = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if not self.leadership.held and (now >= next_try or self._repair_needed.is_set()):
                    self._repair_needed.clear()
                    next_try = now + self.settings.leader_retry
                    if self._lead():
                        self._became_leader()
                if self.leadership.held:
                    self._lead_once(now)
                self.last_error = None
            except Exception as exc:  # keep serving; report through status()
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("background indexing failed; retrying")
                self._stop.wait(0.5)
            self._wake.wait(self.settings.apply_interval)
            self._wake.clear()

    def _became_leader(self) -> None:
        log.info("this process now maintains the index")
        self.syncer.sweep_temp_files(self.settings.temp_max_age)
        if not self.fulltext.writing:
            self.fulltext.open_writer(self.mirror)
        # The file the writer was opened on (it read the mirror through this thread).
        self._led_on = self.mirror.thread_identity() or self.mirror.identity()
        # A full reconcile first (the old leader may have lagged), once the watcher watches:
        # a change made after the reconcile read a file but before the watch began would
        # otherwise wait for the next periodic reconcile. Without a watcher: at once.
        self._next_reconcile = 0.0
        if self.settings.watch and self._watcher is None:
            self._next_reconcile = math.inf  # the watcher's on_ready asks for it
            self._watcher = threading.Thread(
                target=self._watch_loop, name="codearchitect-watch", daemon=True
            )
            self._watcher.start()

    def _lead_once(self, now: float) -> None:
        if self.leadership.lost():
            log.warning("the leader lock %s was removed; electing again", self.leadership.path)
            self.fulltext.close_writer()
            self.leadership.release()
            if not self._lead():
                return  # another process leads now
            self._became_leader()
        self._keep_mirror()
        self._absorb()
        if self._reconcile_needed.is_set() or now >= self._next_reconcile:
            self._reconcile_needed.clear()
            self._next_reconcile = now + self.settings.reconcile_interval
            try:
                report = self.syncer.reconcile(progress=self._progress)
            except Exception:
                # e.g. the mirror is locked: try again at the next turn, not in 5 minutes
                # (a write that the index missed waits for it, see Indexer._index_written).
                self._reconcile_needed.set()
                raise
            if report.changed:
                log.info("reconcile: %s", report)
            self._absorb()

    def _keep_mirror(self) -> None:
        """Repair a mirror a query found damaged; follow a mirror file replaced under us."""
        if self._repair_needed.is_set() or self.mirror.check_marker.exists():
            self._repair_needed.clear()
            aside = self.mirror.repair()  # raises while locked: the marker stays, next turn
            if aside is not None:
                log.warning("the damaged mirror was moved to %s; rebuilding from the files", aside)
        if self.mirror.identity() != self._led_on:
            log.warning("the mirror %s is a new file; indexing every file again", self.mirror.path)
            self.fulltext.close_writer()
            self.mirror.open()  # the schema, if no other process has made it yet
            self._became_leader()  # a new full-text index from the new mirror, a reconcile

    def _absorb(self) -> None:
        while self.fulltext.apply_pending(self.mirror):
            with self._applied:
                self._applied.notify_all()

    def _progress(self, _phase: str, done: int, _total: int) -> None:
        # Keep search lag low during a long reconcile.
        if done % 200 == 0:
            self._absorb()

    # ------------------------------------------------------------------ watcher

    def _watch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                for batch in watch(
                    self.syncer.vault.sessions_dir,
                    stop_event=self._stop,
                    debounce_ms=self.settings.debounce_ms,
                    step_ms=self.settings.step_ms,
                    force_polling=self.settings.force_polling,
                    poll_interval=self.settings.poll_interval,
                    state=self.watch_state,
                    on_ready=self.request_reconcile,
                ):
                    self._apply_batch(batch)
            except Exception:
                log.exception("watcher failed; restarting it with a full reconcile")
                self.request_reconcile()
                self._stop.wait(1.0)

    def _apply_batch(self, batch: set[FileChange]) -> None:
        deadline = time.monotonic() + self.settings.git_pause_max
        while self._git_lock.exists() and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.05)  # git is rewriting the tree: index the end state once
        if any(path == RESCAN for _, path in batch):
            self.request_reconcile()
            return
        retry = []
        for path in sorted({path for _, path in batch}):
            if self.syncer.index_path(path) == "retry":
                retry.append(path)
        for path in retry:  # still changing: one more pass after the others
            self.syncer.index_path(path)
        self.kick()
