"""The server's own state under `.codearchitect/`, claimed without ever following a link.

A cloned repository controls every entry under `.codearchitect/`: git checks out a
symbolic link, even under an ignored path, when its author force-added it. So the one rule
for everything the server makes there itself — `index/` (the SQLite mirror and its `-wal`,
`-shm` and marker files, `fulltext/`, `vectors/`, `leader.lock`), `locks/`, `journal/`,
`trash/`, `capture.log` — lives here:

- Before a folder of such state is used, every component below `.codearchitect/` is opened
  with `O_NOFOLLOW` relative to its parent's descriptor. Anything that is not a real folder
  (a symbolic link, a file, a FIFO, a socket, a device) is unlinked — the link itself, never
  what it points to — and a real folder is made in its place (`claim_dir`).
- Before such a file is used, an entry at its name that is not a regular file is removed:
  a link is unlinked, a folder is removed with everything in it, without following any link
  inside (`claim_file`). A regular file is left alone: another process may hold it.
- Files of this state are opened with `O_NOFOLLOW | O_NONBLOCK` and used only if they are
  regular files (`open_file`, `read_file`), so a FIFO never blocks a reader.
- Inside the folders only the server writes (`index/fulltext/`, `index/vectors/…`), links
  and special files are removed before the writer opens them (`clear_foreign`).

`.codearchitect/` itself and `sessions/` hold the user's sessions, not derived state: a link
there is refused (`SYMLINK_REFUSED`), never removed (see vault/files.py).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from .errors import DirectoryCreationError, SymlinkRefused
from .files import kind, open_folder

__all__ = (
    "claim_dir",
    "claim_file",
    "clear_foreign",
    "empty_dir",
    "open_dir",
    "open_file",
    "read_file",
)

log = logging.getLogger("codearchitect.vault.derived")

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DIR_FLAGS = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC


def claim_dir(path: Path, vault_dir: Path) -> None:
    """Make `path` (under `vault_dir`) a real folder, every component below `vault_dir` too.

    `vault_dir` itself must be a real folder (`SymlinkRefused` otherwise; it is created if
    missing). Any other component that is not a real folder is removed (a link is unlinked,
    never followed) and made again, mode 0700.
    """
    try:
        os.close(open_folder(path, create=True, replace_below=vault_dir))
    except OSError as exc:
        raise DirectoryCreationError(path, "Cannot create directory", details=str(exc)) from exc


@contextlib.contextmanager
def open_dir(path: Path) -> Iterator[int]:
    """A descriptor of the real folder `path` (`SymlinkRefused` if it is a link)."""
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            raise SymlinkRefused(f"Refusing to use a symbolically linked folder: {path}") from exc
        raise
    try:
        yield fd
    finally:
        os.close(fd)


def claim_file(path: Path) -> bool:
    """Remove whatever is at `path` unless it is a regular file (or nothing); True if
    something was removed. A link is unlinked (its target is untouched); a folder is
    removed with its content, never following a link inside it."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if stat.S_ISREG(st.st_mode):
        return False
    try:
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    # Logged once removed: a log handler may write to this very name (capture.log).
    log.warning("removed a planted %s at %s", kind(st.st_mode), path)
    return True


def open_file(path: Path, flags: int, mode: int = 0o600) -> int:
    """Open a regular file of the server's state without following a link or blocking on a
    FIFO; an entry of another kind at that name is removed first (`claim_file`)."""
    for attempt in range(2):
        try:
            fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK | _CLOEXEC, mode)
        except OSError as exc:
            if attempt or exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise
            claim_file(path)
            continue
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        os.close(fd)
        if attempt:
            break
        claim_file(path)
    raise OSError(errno.EINVAL, f"not a regular file: {path}")


def read_file(path: Path) -> bytes | None:
    """The bytes of a regular file; None if it is missing or anything else (a link, a
    FIFO, a folder...), which is left alone."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def clear_foreign(directory: Path, *, temp: bool = False) -> list[str]:
    """Remove every entry of the real folder `directory` that is neither a regular file
    nor a real folder (links, FIFOs, sockets, devices), and with `temp` also regular files
    named `.tmp*` or `*.tmp` (left by a killed writer). Returns the names removed."""
    removed = []
    with open_dir(directory) as fd:
        for entry in os.scandir(fd):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            regular = stat.S_ISREG(st.st_mode)
            if stat.S_ISDIR(st.st_mode) or (
                regular
                and not (temp and (entry.name.startswith(".tmp") or entry.name.endswith(".tmp")))
            ):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.name, dir_fd=fd)
            removed.append(entry.name)
            if not regular:
                log.warning("removed a planted %s at %s", kind(st.st_mode), directory / entry.name)
    return removed


def empty_dir(directory: Path) -> None:
    """Remove every entry of the real folder `directory`, never following a link."""
    with open_dir(directory) as fd:
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.name, dir_fd=fd)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=fd)
