"""The git commands sharing needs, run in a clone: its top folder, its local config, the
attributes git applies to a path, the stages of an unmerged path, a plain text merge."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

__all__ = (
    "GitError",
    "add",
    "check_attr",
    "config_get",
    "config_set",
    "git",
    "ignored",
    "removed_by_a_commit",
    "text_merge",
    "toplevel",
    "unmerged",
    "unmerged_paths",
)

_TIMEOUT = 60


class GitError(RuntimeError):
    """A git command failed (its stderr is the message)."""

    code = "UNKNOWN_ERROR"


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run `git args…` in `cwd`; `GitError` when git is missing or (with `check`) fails."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]}: {exc}") from exc
    if check and done.returncode != 0:
        raise GitError(done.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
    return done


def toplevel(path: Path) -> Path | None:
    """The top folder of the git work tree holding `path`, or None (no git, no clone)."""
    folder = path if path.is_dir() else path.parent
    try:
        done = git(folder, "rev-parse", "--show-toplevel", check=False)
    except GitError:
        return None
    if done.returncode != 0:
        return None
    return Path(os.fsdecode(done.stdout.strip()))


def config_get(top: Path, key: str) -> str | None:
    done = git(top, "config", "--local", "--get", key, check=False)
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace").strip()


def config_set(top: Path, key: str, value: str) -> None:
    git(top, "config", "--local", key, value)


def check_attr(top: Path, attribute: str, path: Path) -> str:
    """The value git gives `attribute` for `path` (`unspecified` when none)."""
    rel = os.path.relpath(path, top)
    out = git(top, "check-attr", "-z", attribute, "--", rel).stdout.split(b"\0")
    return out[2].decode("utf-8", "replace") if len(out) > 2 else "unspecified"


def ignored(top: Path, path: Path) -> bool:
    """Does git ignore `path` (a vault whose sessions are not shared)?"""
    rel = os.path.relpath(path, top)
    return git(top, "check-ignore", "-q", "--no-index", "--", rel, check=False).returncode == 0


def unmerged(top: Path, path: Path) -> dict[int, bytes]:
    """The stages git holds for an unmerged `path` (1 base, 2 ours, 3 theirs); empty
    when the path is not unmerged."""
    rel = os.path.relpath(path, top)
    listing = git(top, "ls-files", "-u", "-z", "--", rel).stdout
    stages: dict[int, bytes] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        info, _, _name = entry.partition(b"\t")
        _mode, sha, stage = info.split()
        stages[int(stage)] = git(top, "cat-file", "blob", sha.decode("ascii")).stdout
    return stages


def unmerged_paths(top: Path, under: Path) -> list[Path]:
    """The paths under `under` that git holds as unmerged (a merge stopped on them)."""
    rel = os.path.relpath(under, top)
    listing = git(top, "ls-files", "-u", "-z", "--", rel).stdout
    names = {entry.partition(b"\t")[2] for entry in listing.split(b"\0") if entry}
    return sorted(top / os.fsdecode(name) for name in names if name)


def removed_by_a_commit(top: Path, under: Path, text: str) -> bool:
    """Was `text` committed under `under` once, and is it gone from HEAD's version? (A
    deletion that came through git: made in this clone or merged from another.)"""
    rel = os.path.relpath(under, top)
    if git(top, "rev-parse", "-q", "--verify", "HEAD", check=False).returncode != 0:
        return False
    if git(top, "grep", "-q", "-F", "-e", text, "HEAD", "--", rel, check=False).returncode == 0:
        return False
    found = git(top, "log", "-1", "--format=%H", "-S", text, "HEAD", "--", rel, check=False)
    return bool(found.stdout.strip())


def add(top: Path, path: Path) -> None:
    git(top, "add", "--", os.path.relpath(path, top))


def text_merge(base: bytes, ours: bytes, theirs: bytes) -> tuple[bytes, bool]:
    """git's own line merge of three texts: (result, clean)."""
    with tempfile.TemporaryDirectory(prefix="cam-merge-") as tmp:
        names = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            target = Path(tmp) / name
            target.write_bytes(data)
            names.append(str(target))
        done = git(Path(tmp), "merge-file", "-p", *names, check=False)
    if done.returncode < 0 or done.returncode > 127:
        raise GitError(done.stderr.decode("utf-8", "replace").strip() or "git merge-file failed")
    return done.stdout, done.returncode == 0
