"""A project's redaction settings: the `redaction` section of `.codearchitect/config.json`
(the file `codearchitect semantic enable` also writes; it is committed with the vault, so
every clone redacts alike).

    {"redaction": {"allow": ["AKIAIOSFODNN7EXAMPLE"],
                   "allow_patterns": ["^sk_test_"],
                   "disable": ["high-entropy-string"],
                   "enabled": true}}

- `allow`: exact values never redacted; `allow_patterns`: regular expressions searched in
  a found value (a match keeps it);
- `disable`: kinds of secret not looked for (see `KINDS`);
- `enabled: false` turns redaction off for the project.

A setting that cannot be read is not obeyed and is listed in `problems` (shown by
`codearchitect doctor`): a broken file never turns redaction off.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..derived import read_file

__all__ = ("CONFIG_NAME", "RedactionConfig", "read_config")

CONFIG_NAME = "config.json"


@dataclass(frozen=True)
class RedactionConfig:
    enabled: bool = True
    allow: frozenset[str] = frozenset()
    allow_patterns: tuple[re.Pattern[str], ...] = ()
    disable: frozenset[str] = frozenset()
    problems: tuple[str, ...] = field(default=(), compare=False)


def read_config(vault_dir: Path, kinds: frozenset[str]) -> RedactionConfig:
    """The project's settings; defaults when the file or the section is missing."""
    path = vault_dir / CONFIG_NAME
    try:
        # A link, FIFO or folder planted there reads as missing (vault/derived.py): never
        # followed outside the vault, never a read that blocks every write.
        text = read_file(path)
        if text is None:
            return RedactionConfig()
        data: Any = json.loads(text.decode("utf-8"))
    except (OSError, ValueError) as exc:
        return RedactionConfig(problems=(f"{path}: cannot be read ({exc}); defaults used",))
    section = data.get("redaction") if isinstance(data, dict) else None
    if section is None:
        return RedactionConfig()
    if not isinstance(section, dict):
        return RedactionConfig(problems=(f"{path}: 'redaction' must be an object",))
    problems: list[str] = []
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append("'redaction.enabled' must be true or false; redaction stays on")
        enabled = True
    allow = frozenset(_strings(section, "allow", problems))
    patterns: list[re.Pattern[str]] = []
    for raw in _strings(section, "allow_patterns", problems):
        try:
            patterns.append(re.compile(raw))
        except re.error as exc:
            problems.append(f"'redaction.allow_patterns': {raw!r} is not a valid pattern ({exc})")
    disable: set[str] = set()
    for name in _strings(section, "disable", problems):
        if name in kinds:
            disable.add(name)
        else:
            problems.append(f"'redaction.disable': unknown kind {name!r}")
    for key in section:
        if key not in ("enabled", "allow", "allow_patterns", "disable"):
            problems.append(f"'redaction.{key}' is not a setting")
    return RedactionConfig(
        enabled, allow, tuple(patterns), frozenset(disable), tuple(f"{path}: {p}" for p in problems)
    )


def config_stamp(vault_dir: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of the config file, to re-read it only when it changed."""
    try:
        st = os.stat(vault_dir / CONFIG_NAME)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _strings(section: dict[str, Any], key: str, problems: list[str]) -> list[str]:
    value = section.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"'redaction.{key}' must be a list of strings")
        return []
    return list(value)
