"""Paths in an imported session's frontmatter without the user's home directory.

`source_path` and the `cwd` Claude Code records are written with `~` for the home folder
(`/home/ana/.claude/projects/…` → `~/.claude/projects/…`), so a vault committed and
shared does not tell who imported it or how their disk is laid out. Paths outside the home
folder stay as they are. Frontmatter is written once, when a file is created, so files
written by an older version keep their absolute paths; a re-import only appends messages.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..session_file import Message

__all__ = ("home_relative", "portable_fields", "portable_message")

_PATH_KEYS = ("cwd",)


def home_relative(path: str) -> str:
    """`path` with a leading home folder written as `~` (`path` itself otherwise)."""
    home = os.environ.get("HOME") or str(Path.home())
    home = home.rstrip("/")
    if not home or not path.startswith(home):
        return path
    rest = path[len(home) :]
    if rest and not rest.startswith(("/", "!")):
        return path
    return "~" + rest


def portable_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A new session's fields with `source_path` and `metadata.cwd` home-relative."""
    out = dict(fields)
    if isinstance(out.get("source_path"), str):
        out["source_path"] = home_relative(out["source_path"])
    meta = out.get("metadata")
    if isinstance(meta, dict) and any(isinstance(meta.get(k), str) for k in _PATH_KEYS):
        out["metadata"] = _portable_meta(meta)
    return out


def portable_message(message: Message) -> Message:
    """A message whose metadata records a new `cwd`, with it home-relative."""
    meta = message.metadata
    if not meta or not any(isinstance(meta.get(k), str) for k in _PATH_KEYS):
        return message
    new = _portable_meta(meta)
    return message if new == meta else replace(message, metadata=new)


def _portable_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out = dict(meta)
    for key in _PATH_KEYS:
        if isinstance(out.get(key), str):
            out[key] = home_relative(out[key])
    return out
