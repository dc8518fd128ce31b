"""Polling with a deadline: tests wait for background work this way, never on speed."""

from __future__ import annotations

import time
from collections.abc import Callable

# How long a test waits for background work (watcher, leader, full-text absorption, a
# server process) before it calls the work lost. Generous on purpose: a CI box or a loaded
# machine (load 15 on 2 cores) can take many seconds for what takes milliseconds alone, and
# a wait that is met returns at once, so a long deadline costs nothing when all is well.
PATIENCE = 60.0


def wait_until(check: Callable[[], bool], timeout: float = PATIENCE, step: float = 0.05) -> bool:
    """Poll `check` until it is true or `timeout` seconds pass; the last check decides."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()
