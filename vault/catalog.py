"""Which file holds which session id, learnt from each file's frontmatter and kept fresh.

Session files are named by time and topic, not by id (a caller-chosen id is never a path),
so finding a session means knowing every file's `id`. The catalogue reads each file's head
once and re-reads it only when the file's (inode, size, mtime) moves.

It also remembers what an editor's save looks like from outside, so that a look-up during
a save does not conclude the session is gone (`unsettled`): a file read without an id
while it was being written (a new file vim has not written yet, a file truncated by an
in-place save) is re-stat'ed at every refresh until it has an id or settles; a file that
held an id and was then found missing or without one is remembered for 2 s, and up to a
minute while the path still holds no id and either the editor's backup of it (`name~`,
vim's and emacs's rename-and-write save) stands beside it or it is still the same file
(an in-place save, truncated and not written back).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from . import files
from .errors import SymlinkRefused, UnreadableSessionFile
from .files import FileState

__all__ = ("Catalog",)

_HOT_NS = 2_000_000_000
# A save that has not put the session's id back this long after the file lost it is not in
# progress any more (the editor died, keeps backups, or a person removed the id): the file
# counts as gone, and the session may be created again.
_SAVE_NS = 60_000_000_000
_BACKUP_SUFFIX = "~"


class Catalog:
    """session id → paths, over the `*.md` files of some folders."""

    def __init__(
        self, read_id: Callable[[Path], str | None], accept: Callable[[str], bool]
    ) -> None:
        self._read_id = read_id
        self._accept = accept
        self._entries: dict[Path, tuple[FileState, str | None]] = {}
        self._by_id: dict[str, set[Path]] = {}
        self._by_dir: dict[Path, set[Path]] = {}
        self._dirs: dict[Path, tuple[int, int]] = {}  # folder -> (mtime_ns, listed at, ns)
        self._unknown: set[Path] = set()  # files whose id could not be read
        # ... of those, the ones written within 2 s of being read: maybe an editor mid-save
        self._pending: set[Path] = set()
        self._unreadable: dict[Path, str] = {}  # regular files that cannot be read: why
        # path -> (when, id, inode): a file of `id` found missing, or without its id, then
        self._lost: dict[Path, tuple[int, str | None, int]] = {}
        # refresh_tree: root -> (its mtime_ns, listed at ns, its subfolders)
        self._trees: dict[Path, tuple[int, int, list[Path]]] = {}
        # One Path object per folder, so the per-look-up sweep over every folder compares
        # by identity instead of by pathlib's slow equality.
        self._folders: dict[Path, Path] = {}

    def ids(self) -> dict[str, list[Path]]:
        return {sid: sorted(paths) for sid, paths in self._by_id.items() if paths}

    def paths_for(self, session_id: str) -> list[Path]:
        """The files that hold `session_id`, each checked against its current state."""
        found = []
        for path in sorted(self._by_id.get(session_id, ())):
            current = files.stat_file(path)
            if current is None:
                self._gone(path)
                continue
            if current != self._entries[path][0]:
                self._learn(path, current)
                if self._entries[path][1] != session_id:
                    continue
            found.append(path)
        return found

    def parsed(self, path: Path, state: FileState, session_id: str) -> None:
        """A whole parse of `path` at `state` found `session_id`: update a file the
        catalogue already lists, so it does not read that head again."""
        if path in self._entries:
            self.put(path, state, session_id)

    def seed(self, entries: Iterable[tuple[Path, FileState, str]]) -> int:
        """Learn (path, state, id) from elsewhere (the index's mirror) for files not listed
        yet: a later listing reads the head of such a file only if its state differs.
        Returns how many were taken."""
        taken = 0
        for path, state, session_id in entries:
            if path not in self._entries:
                self.put(path, state, session_id)
                taken += 1
        return taken

    def put(self, path: Path, state: FileState, session_id: str | None) -> None:
        old = self._entries.get(path)
        if session_id is not None:
            self._lost.pop(path, None)  # holds an id again: whatever save it was is over
        elif old is not None and old[1] is not None:
            self._lost[path] = (time.time_ns(), old[1], old[0].ino)  # a save, most likely
        self.drop(path)
        self._entries[path] = (state, session_id)
        self._by_dir.setdefault(self._folder(path.parent), set()).add(path)
        if session_id is not None:
            self._by_id.setdefault(session_id, set()).add(path)
        else:
            self._unknown.add(path)

    def unreadable(self) -> dict[Path, str]:
        """Files listed here that could not be read (permissions, I/O error), and why: one
        of them may hold any id not found, so no second file may be created for it."""
        return dict(self._unreadable)

    def _learn(self, path: Path, state: FileState) -> None:
        """Read `path`'s id and list it, remembering a file that cannot be read."""
        try:
            session_id, why = self._read_id(path), None
        except UnreadableSessionFile as exc:
            session_id, why = None, exc.reason
        self.put(path, state, session_id)
        if why is not None:
            self._unreadable[path] = why
        elif session_id is None and _recent(state.mtime_ns, time.time_ns()):
            self._pending.add(path)

    def drop(self, path: Path) -> None:
        old = self._entries.pop(path, None)
        if old is None:
            return
        self._unknown.discard(path)
        self._pending.discard(path)
        self._unreadable.pop(path, None)
        self._by_dir.get(path.parent, set()).discard(path)
        if old[1] is not None:
            self._by_id.get(old[1], set()).discard(path)

    def refresh_tree(self, root: Path, *, deep: bool, hot_only: bool = False) -> None:
        """`refresh` over the subfolders of `root`, re-listing `root` itself only when its
        mtime moved or it was hot when last listed (or `deep`)."""
        listed_ns = time.time_ns()
        try:
            st = os.stat(root)
        except (FileNotFoundError, NotADirectoryError):
            self._trees.pop(root, None)
            self.refresh([], deep=deep)
            return
        seen = self._trees.get(root)
        if deep or seen is None or seen[0] != st.st_mtime_ns or seen[1] - seen[0] <= _HOT_NS:
            names = files.list_folder(root)
            seen = (st.st_mtime_ns, listed_ns, [self._folder(root / name) for name in names])
            self._trees[root] = seen
        self.refresh(seen[2], deep=deep, hot_only=hot_only)
        if self._pending:
            self._recheck(self._pending)

    def refresh(self, folders: list[Path], *, deep: bool, hot_only: bool = False) -> None:
        """Bring the catalogue up to date with `folders`.

        `deep=False` re-lists only folders whose mtime moved, or that were *hot* when last
        listed (their mtime within 2 s of the listing: a filesystem with coarse timestamps
        can add a file in the same tick without moving the mtime), and reads the heads of
        new names only. `deep=True` re-lists every folder and re-stats every file, so a
        file whose frontmatter `id` was edited by hand is noticed too. `hot_only=True`
        does not even stat the folders that were settled when last listed: files added to
        them since are not seen (a cheap refresh before a look-up that is likely a hit).
        """
        present = set()
        for folder in folders:
            if hot_only and not deep:
                seen = self._dirs.get(folder)
                if seen is not None and seen[1] - seen[0] > _HOT_NS:
                    present.add(folder)
                    continue
            listed_ns = time.time_ns()
            try:
                st = os.lstat(folder)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                continue
            present.add(folder)
            seen = self._dirs.get(folder)
            settled = seen is not None and seen[1] - seen[0] > _HOT_NS
            if not deep and settled and seen is not None and seen[0] == st.st_mtime_ns:
                continue
            self._dirs[folder] = (st.st_mtime_ns, listed_ns)
            self._refresh_folder(folder, deep=deep)
        for folder in [f for f in self._by_dir if f not in present]:
            for path in list(self._by_dir.pop(folder)):
                self.drop(path)
            self._dirs.pop(folder, None)
            self._folders.pop(folder, None)

    def _folder(self, folder: Path) -> Path:
        return self._folders.setdefault(folder, folder)

    def _refresh_folder(self, folder: Path, *, deep: bool) -> None:
        names = {n for n in files.list_folder(folder) if self._accept(n)}
        known = {p.name: p for p in self._by_dir.get(folder, ())}
        for name in known.keys() - names:
            self._gone(known[name])
        # Path objects are only made for new names: a folder of thousands of sessions is
        # re-listed on every miss while a bulk import adds to it.
        todo = [folder / n for n in names - known.keys()]
        if deep:
            todo += [known[n] for n in names & known.keys()]
        for path in todo:
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
                continue
            state = FileState(st.st_ino, st.st_size, st.st_mtime_ns)
            cached = self._entries.get(path)
            if cached is None or cached[0] != state:
                self._learn(path, state)

    def _gone(self, path: Path) -> None:
        """`path` was found missing: drop it, remembering it for `unsettled`."""
        entry = self._entries.get(path)
        if entry is not None and (entry[1] is not None or path in self._pending):
            self._lost[path] = (time.time_ns(), entry[1], entry[0].ino)
        self.drop(path)

    def _recheck(self, paths: Iterable[Path]) -> Path | None:
        """Re-stat files listed without an id: learn those that changed, forget those gone
        (as vanished) and those settled. Returns one still being written (no id, written in
        the last 2 s), if any."""
        now = time.time_ns()
        busy = None
        for path in list(paths):
            try:
                current = files.stat_file(path)
            except (OSError, SymlinkRefused):
                self.drop(path)  # a link now, or unreachable: not a session file
                continue
            if current is None:
                self._gone(path)
                continue
            entry = self._entries.get(path)
            if entry is None or entry[1] is not None:
                continue
            if current != entry[0]:
                self._learn(path, current)
                if self._entries.get(path, entry)[1] is not None:
                    continue
            if not _recent(current.mtime_ns, now):
                self._pending.discard(path)  # settled with no id: not a save in progress
            elif path not in self._unreadable:
                self._pending.add(path)
                busy = busy or path
        return busy

    def unsettled(self, session_id: str) -> Path | None:
        """Might an editor be saving a file of this session right now? The file that says
        so, or None.

        Yes while a file whose id cannot be read was written in the last 2 s (an in-place
        save: truncate, then write; or vim's new file before its bytes), or a file that
        held `session_id` (or whose id was never read) went missing or lost its id in the
        last 2 s, or (for up to a minute) still holds no id while its editor's backup
        (`name~`) stands beside it or it is still the same file (`_still_saving`). Every
        file without an id is re-stat'ed first, so a save that finished meanwhile is seen
        (its id learnt).
        """
        busy = self._recheck(self._unknown)
        now = time.time_ns()
        for path, (when, sid, ino) in list(self._lost.items()):
            if now - when <= _HOT_NS:
                continue
            if sid is None or now - when > _SAVE_NS or not self._still_saving(path, ino):
                del self._lost[path]
        # A lost file whose id we never read (seen only while an editor was writing it) may
        # have been this session's: wait for it too.
        for path, (_, sid, _) in self._lost.items():
            if sid in (session_id, None):
                return path
        return busy

    def _still_saving(self, path: Path, ino: int) -> bool:
        """A save of `path` not over yet: the path holds no id (missing, or a readable file
        without one) and either the editor's backup (`name~`) stands beside it (vim's and
        emacs's rename-and-write) or it is still the file that held the id (an in-place
        save: truncated, not written back)."""
        entry = self._entries.get(path)
        if entry is not None and (entry[1] is not None or path in self._unreadable):
            return False
        if entry is not None and entry[0].ino == ino:
            return True
        backup = path.with_name(path.name + _BACKUP_SUFFIX)
        try:
            return files.stat_file(backup) is not None
        except SymlinkRefused:
            return False


def _recent(mtime_ns: int, now_ns: int) -> bool:
    """Written within 2 s of `now_ns` (a file dated in the future is not being written)."""
    return abs(now_ns - mtime_ns) <= _HOT_NS
