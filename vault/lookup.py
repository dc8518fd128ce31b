"""Which file holds a session id: the catalogues of `sessions/` and `trash/`, kept fresh.

Session files are named by time and topic, not by id, so a look-up goes through a
`Catalog` of every file's frontmatter `id` (see vault/catalog.py), refreshed before each
look-up as cheaply as the rules allow:

- a miss is exact: every day folder whose mtime moved (or that is hot) is re-listed, and
  at most every 5 s every file is re-stat'ed too, to notice an `id` edited by hand;
- within 1 s of such a full look, a hit checks only `sessions/` itself, the hot day
  folders and the file found (a copy of it put into another, settled day folder is
  reported as `AmbiguousSession` up to a second later);
- a miss while an editor is saving the session's file waits for the save (~2 s at most)
  rather than let the caller create a second file for the id, and is `Conflict` (nothing
  created; try again) if the save is still not over then (vault/catalog.py `unsettled`).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from . import files
from .catalog import Catalog
from .errors import (
    AmbiguousSession,
    Conflict,
    SessionDeleted,
    SessionNotFound,
    SymlinkRefused,
    UnreadableSessionFile,
    VaultError,
)
from .files import FileState
from .session_file import read_frontmatter

__all__ = ("SAVE_WAITS", "Finder", "head_id", "is_session_name")

log = logging.getLogger("codearchitect.vault.lookup")

# Waits (seconds) for an outside save in progress to finish: ~2 s in all, as long as a file
# counts as being saved (written or vanished in the last 2 s, vault/catalog.py). A save is
# fast alone, but on a loaded machine an editor can stall between truncating (or renaming
# away) the file and writing it again for far longer than its own run time; a miss is only
# final once the save would be over. The wait ends as soon as the file is back.
SAVE_WAITS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.25, 0.45, 0.5, 0.5)
_HEAD_BYTES = 70 * 1024
_DEEP_REFRESH_S = 5.0
# A hit may skip stat-ing the settled day folders for this long after a full sweep.
_SWEEP_S = 1.0
_ID_LINE = re.compile(rb"^id:[ \t]*(.+?)[ \t\r]*$", re.MULTILINE)


class Finder:
    """Session id → file, over `sessions/*/` (and the ids of trashed files)."""

    def __init__(self, sessions_dir: Path, trash_dir: Path) -> None:
        self.sessions_dir = sessions_dir
        self.trash_dir = trash_dir
        self.catalog = Catalog(head_id, is_session_name)
        self._trash = Catalog(head_id, lambda name: name.endswith(".md"))
        self._deep_refreshed = float("-inf")
        self._swept = float("-inf")
        self._seed: Callable[[], Iterable[tuple[str, FileState, str]]] | None = None

    def seed_with(self, provider: Callable[[], Iterable[tuple[str, FileState, str]]]) -> None:
        """Before the first look-up, take (`day/name.md`, state, id) of files known
        elsewhere from `provider()` (the index), so the first look-up of a process reads
        the heads of only the files that changed since (see `Catalog.seed`)."""
        self._seed = provider

    def locate(self, session_id: str) -> Path:
        """The file of a session id; `SessionNotFound`, `SessionDeleted` or `AmbiguousSession`."""
        path = self.find(session_id)
        if path is None:
            if self.in_trash(session_id):
                raise SessionDeleted(session_id)
            raise SessionNotFound(session_id)
        return path

    def find(self, session_id: str) -> Path | None:
        """The one file holding `session_id`, or None; `AmbiguousSession` if several do."""
        quick = time.monotonic() - self._swept < _SWEEP_S
        self.refresh(deep=False, hot_only=quick)
        paths = self.catalog.paths_for(session_id)
        if not paths and quick:
            self.refresh(deep=False)
            paths = self.catalog.paths_for(session_id)
        if not paths and time.monotonic() - self._deep_refreshed > _DEEP_REFRESH_S:
            self.refresh(deep=True)
            paths = self.catalog.paths_for(session_id)
        if not paths:
            paths = self._wait_for_save(session_id)
        if not paths:
            self._refuse_shadowing(session_id)
        if len(paths) > 1:
            raise AmbiguousSession(session_id, sorted(paths))
        return paths[0] if paths else None

    def _wait_for_save(self, session_id: str) -> list[Path]:
        """After a miss: the session's files once no editor is saving one of them (a file
        of the id truncated, or renamed away for a moment, would otherwise make the caller
        create a second file for the id). Waits up to ~2 s; `Conflict` if the save is still
        not over then (nothing may be created while it is)."""
        for delay in (*SAVE_WAITS, None):
            saving = self.catalog.unsettled(session_id)  # learns the id of a finished save
            paths = self.catalog.paths_for(session_id)
            if paths or saving is None:
                return paths
            if delay is None:
                break
            time.sleep(delay)
            self.refresh(deep=False)
        raise Conflict(
            f"Session {session_id}: its file is being saved by another program ({saving} "
            "was renamed away, emptied or rewritten and not written back yet); try again"
        )

    def _refuse_shadowing(self, session_id: str) -> None:
        """A miss while a session file cannot be read: that file may hold `session_id`, so
        the caller must not create it again elsewhere (`UnreadableSessionFile`)."""
        unreadable = self.catalog.unreadable()
        if not unreadable:
            return
        path, why = sorted(unreadable.items())[0]
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        raise UnreadableSessionFile(
            path,
            f"{why}{more}; session {session_id!r} is in no readable file and may be in this "
            "one, so it is not created elsewhere: fix the file's permissions or move it out "
            "of sessions/",
        )

    def ids(self) -> dict[str, list[Path]]:
        """Every session id and its files, after a deep refresh."""
        self.refresh(deep=True)
        return self.catalog.ids()

    def in_trash(self, session_id: str) -> bool:
        self._trash.refresh([self.trash_dir], deep=False)
        return bool(self._trash.paths_for(session_id))

    def refresh(self, *, deep: bool, hot_only: bool = False) -> None:
        provider, self._seed = self._seed, None
        if provider is not None:
            try:
                root = self.sessions_dir
                self.catalog.seed((root / rel, state, sid) for rel, state, sid in provider())
            except Exception:  # a hint only: without it every head is read, as before
                log.warning("could not seed the session catalogue", exc_info=True)
        started = time.monotonic()
        self.catalog.refresh_tree(self.sessions_dir, deep=deep, hot_only=hot_only)
        if not hot_only:
            self._swept = started
        if deep:
            self._deep_refreshed = started


def head_id(path: Path) -> str | None:
    """The session id in a file's frontmatter, read from its first 70 KB.

    If the frontmatter does not parse, an `id:` line is still looked for, so a session
    whose file a person broke is reported as malformed rather than silently recreated.
    Raises `UnreadableSessionFile` when the file cannot be read (see `Catalog`); a link,
    or a file gone meanwhile, has no id.
    """
    try:
        fd = files.open_regular(path)
    except (FileNotFoundError, SymlinkRefused):
        return None
    except UnreadableSessionFile:
        if not _regular(path):
            return None  # a FIFO, socket or folder: not a session file, holds no session
        raise
    try:
        head = os.read(fd, 4096)
        fast = _plain_id(head)
        if fast is not None:
            return fast
        if len(head) == 4096:
            head += os.read(fd, _HEAD_BYTES - 4096)
    except OSError as exc:
        raise UnreadableSessionFile(path, exc.strerror or str(exc)) from exc
    finally:
        os.close(fd)
    try:
        sid = read_frontmatter(head, path)["id"]
        return sid if isinstance(sid, str) else None
    except VaultError:
        m = _ID_LINE.search(head)
        if m is None:
            return None
        return m.group(1).decode("utf-8", "replace").strip().strip("'\"")


def is_session_name(name: str) -> bool:
    """A file the vault treats as a session: `*.md`, not hidden, not a temp or backup."""
    return name.endswith(".md") and not name.startswith((".", "~", "#"))


def _plain_id(head: bytes) -> str | None:
    """The frontmatter's top-level `id` when it is a plain or simply quoted scalar on one
    line, without a YAML parse (the catalogue reads every file's head once); None when
    only the YAML parser can tell."""
    start = 3 if head.startswith(b"---") else 6 if head.startswith(b"\xef\xbb\xbf---") else -1
    if start < 0:
        return None
    end = head.find(b"\n---", start)
    if end < 0:
        return None
    m = _ID_LINE.search(head, start, end)
    if m is None:
        return None
    raw = m.group(1)
    if raw[:1] in b"'\"" and raw[-1:] == raw[:1] and len(raw) >= 2:
        inner = raw[1:-1]
        if b"\\" in inner or raw[:1] in inner:
            return None
        raw = inner
    elif raw[:1] in b"!&*>|{[@`#%" or b" #" in raw or raw.endswith(b":"):
        return None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return value if value.strip() else None


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
