"""The session files a commit is about to record: what `git add` put in the index, read
from git (not from the work tree, which may differ), for `codearchitect scan --staged`."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

from ..lookup import is_session_name
from ..paths import VAULT_DIR

__all__ = ("GitFailed", "repo_top", "staged_session_files")


class GitFailed(Exception):
    """git could not be run, or this is not a git work tree."""


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitFailed(f"cannot run git: {exc}") from exc
    if done.returncode != 0:
        raise GitFailed(done.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
    return done.stdout


def repo_top(cwd: Path) -> Path:
    return Path(_git(cwd, "rev-parse", "--show-toplevel").decode().strip())


def staged_session_files(cwd: Path) -> list[tuple[Path, bytes]]:
    """(path in the work tree, staged bytes) of each session file added or changed in the
    index, in path order."""
    top = repo_top(cwd)
    names = _git(top, "diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z")
    out: list[tuple[Path, bytes]] = []
    for raw in sorted(n for n in names.split(b"\0") if n):
        name = raw.decode("utf-8", "surrogateescape")
        parts = PurePosixPath(name).parts
        if not _is_session_path(parts):
            continue
        out.append((top / name, _git(top, "cat-file", "blob", f":{name}")))
    return out


def _is_session_path(parts: tuple[str, ...]) -> bool:
    for i in range(len(parts) - 2):
        if parts[i] == VAULT_DIR and parts[i + 1] == "sessions":
            return is_session_name(parts[-1])
    return False
