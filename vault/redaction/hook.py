"""The clone's pre-commit hook that runs `codearchitect scan --staged` (offered by
`codearchitect git setup`).

A clone without a pre-commit hook gets one. A clone whose hook is a shell script gets our
check chained in as the script's first command (its own checks still run after ours). Any
other hook is left alone, and the line to add is said instead: nothing is overwritten.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .. import files
from ..gitshare.repo import git

__all__ = ("MARK", "hook_command", "hook_path", "install_hook", "is_installed")

MARK = "# codearchitect: no secrets in staged session files (docs/git.md)"
_SHELL = re.compile(rb"^#!\s*(?:/usr)?/bin/(?:env\s+)?(?:ba|da|z)?sh\b")


def hook_command(program: str) -> str:
    """The line the hook runs: `<program> scan --staged`, failing the commit on a find."""
    return f"{program} scan --staged || exit 1"


def hook_path(top: Path) -> Path:
    """Where git looks for this clone's pre-commit hook (honours `core.hooksPath`)."""
    out = git(top, "rev-parse", "--git-path", "hooks/pre-commit").stdout
    path = Path(os.fsdecode(out.strip()))
    return path if path.is_absolute() else top / path


def is_installed(top: Path) -> bool:
    path = hook_path(top)
    try:
        return MARK.encode() in path.read_bytes()
    except OSError:
        return False


def install_hook(top: Path, program: str) -> tuple[bool, str]:
    """(installed, what happened) for this clone."""
    path = hook_path(top)
    line = hook_command(program)
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    if old is not None and MARK.encode() in old:
        return True, f"pre-commit: {path} already runs the secret check"
    if old is None:
        data = f"#!/bin/sh\n{MARK}\n{line}\n".encode()
        what = f"pre-commit: wrote {path} (runs `{line}`)"
    elif _SHELL.match(old):
        first, _, rest = old.partition(b"\n")
        data = first + b"\n" + f"{MARK}\n{line}\n".encode() + rest
        what = f"pre-commit: added the secret check at the top of the existing hook {path}"
    else:
        return False, (
            f"pre-commit: {path} exists and is not a shell script; it was left alone. "
            f"Add this check to it yourself: {line}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(path, data)
    path.chmod(0o755)
    return True, what
