"""Vault settings: each from an explicit argument, else an environment variable, else a default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ("Settings",)


def _default_lock_timeout() -> float:
    return float(os.environ.get("CODEARCHITECT_LOCK_TIMEOUT", "30"))


@dataclass(frozen=True)
class Settings:
    """Limits and timeouts of the write path (RELIABILITY.md §2 and §4)."""

    lock_timeout: float = field(default_factory=_default_lock_timeout)
    max_conversation_bytes: int = 10 * 1024 * 1024
    max_file_bytes: int = 20 * 1024 * 1024
    max_collisions: int = 1000
