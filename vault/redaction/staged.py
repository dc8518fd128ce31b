"""The session files a commit is about to record: what `git add` put in the index, read
from git (not from the work tree, which may differ), for `codearchitect scan --staged`."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from ..gitshare.repo import GitError, git, toplevel
from ..lookup import is_session_name
from ..paths import VAULT_DIR

__all__ = ("GitError", "staged_session_files")


def staged_session_files(cwd: Path) -> list[tuple[Path, bytes]]:
    """(path in the work tree, staged bytes) of each session file added or changed in the
    index, in path order; `GitError` outside a git work tree."""
    top = toplevel(cwd)
    if top is None:
        raise GitError(f"{cwd} is not in a git work tree (not a git repository)")
    names = git(top, "diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z").stdout
    out: list[tuple[Path, bytes]] = []
    for raw in sorted(n for n in names.split(b"\0") if n):
        name = raw.decode("utf-8", "surrogateescape")
        if _is_session_path(PurePosixPath(name).parts):
            out.append((top / name, git(top, "cat-file", "blob", f":{name}").stdout))
    return out


def _is_session_path(parts: tuple[str, ...]) -> bool:
    for i in range(len(parts) - 2):
        if parts[i] == VAULT_DIR and parts[i + 1] == "sessions":
            return is_session_name(parts[-1])
    return False
