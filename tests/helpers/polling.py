"""Polling with a deadline: tests wait for background work this way, never on speed."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(check: Callable[[], bool], timeout: float, step: float) -> bool:
    """Poll `check` until it is true or `timeout` seconds pass; the last check decides."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()
