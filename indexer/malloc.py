"""Bounding glibc's per-thread malloc arenas in a long-lived process.

glibc gives each new thread its own malloc arena (up to 8 per core) and keeps the memory
it touched. tantivy starts short-lived threads for every commit and merge, so a server
that stores and searches for a while grew to ~250 MB in a tiny vault with the default,
and stayed under ~90 MB with two arenas (measured: 450 store+search pairs, docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

__all__ = ("limit_arenas",)

log = logging.getLogger("codearchitect.indexer.malloc")

_M_ARENA_MAX = -8  # <malloc.h>
_done = False


def limit_arenas(count: int = 2) -> bool:
    """`mallopt(M_ARENA_MAX, count)` once per process, on glibc; True if it took effect.

    Threads started afterwards share `count` arenas. The `MALLOC_ARENA_MAX` environment
    variable, if set, wins (read by glibc at start-up, and respected here).
    """
    global _done
    if _done or not sys.platform.startswith("linux"):
        return False
    _done = True
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt arenas)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_ARENA_MAX, count))
    if not ok:
        log.debug("mallopt(M_ARENA_MAX) refused")
    return ok
