"""Safe file IO: atomic replace, exclusive create, durable append, no symlinks followed.

Every acknowledged write is on disk: the file is fsynced, and for a new or replaced file
the directory too. A failed write leaves the old file byte-identical and no temp file
behind. Temp files are named `.~cam-*.tmp`, which the watcher ignores.

Nothing under `.codearchitect/` is reached through a link, at any moment: every operation
opens the folders from `.codearchitect/` down with `O_NOFOLLOW`, each relative to the
descriptor of the one before, and then works relative to the last one (`openat` style). A
folder swapped for a link while the server runs is `SymlinkRefused` at the next write or
read, never followed (RELIABILITY.md scenario 19). Only regular files are session files:
they are opened with `O_NONBLOCK`, so a FIFO never blocks, and anything else, or a file
that cannot be read, is `UnreadableSessionFile`.

The `IO` object holds the OS calls so that tests can inject faults (ENOSPC, EIO) at each
step without touching the global `os` module.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from .errors import (
    DirectoryCreationError,
    FilenameGenerationError,
    FileWriteError,
    SymlinkRefused,
    UnreadableSessionFile,
)
from .paths import VAULT_DIR

__all__ = (
    "DIR_MODE",
    "FILE_MODE",
    "IO",
    "TEMP_PREFIX",
    "FileChanged",
    "FileState",
    "append_bytes",
    "checksum",
    "create_exclusive",
    "ensure_dir",
    "fsync_dir",
    "kind",
    "list_folder",
    "open_folder",
    "read_bytes",
    "rename",
    "stat_file",
    "truncate_to",
    "write_atomic",
)

TEMP_PREFIX = ".~cam-"
TEMP_SUFFIX = ".tmp"
FILE_MODE = 0o600
DIR_MODE = 0o700
log = logging.getLogger("codearchitect.vault.files")

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC


def _replace_at(src_dir: int, src: str, dst_dir: int, dst: str) -> None:
    os.replace(src, dst, src_dir_fd=src_dir, dst_dir_fd=dst_dir)


def _link_at(src_dir: int, src: str, dst_dir: int, dst: str) -> None:
    os.link(src, dst, src_dir_fd=src_dir, dst_dir_fd=dst_dir, follow_symlinks=False)


# (folder descriptor, name) pairs for replace and link: see the module docstring.
IO = SimpleNamespace(
    open=os.open,  # reading a session file (tests inject EACCES through it when run as root)
    write=os.write,
    fsync=os.fsync,
    replace=_replace_at,
    link=_link_at,
    ftruncate=os.ftruncate,
)


@dataclass(frozen=True)
class FileState:
    """What identifies a file's version cheaply: inode, size and mtime."""

    ino: int
    size: int
    mtime_ns: int


class FileChanged(Exception):
    """The file is not the version we expected (an editor replaced or grew it)."""


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stat_file(path: Path) -> FileState | None:
    """lstat a vault file; None if missing; `SymlinkRefused` if it (or a folder on its way
    from `.codearchitect/`) is a link."""
    try:
        with _folder(path.parent) as folder:
            st = os.stat(path.name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise SymlinkRefused(f"Refusing to follow a symbolic link inside the vault: {path}")
    return FileState(st.st_ino, st.st_size, st.st_mtime_ns)


def read_bytes(path: Path) -> tuple[bytes, FileState]:
    """Read a whole regular file without following a link; the state is of the bytes read.
    `UnreadableSessionFile` if it cannot be read or is not a regular file."""
    fd = open_regular(path)
    try:
        st = os.fstat(fd)
        chunks = []
        try:
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        except OSError as exc:
            raise UnreadableSessionFile(path, _reason(exc)) from exc
        data = b"".join(chunks)
        return data, FileState(st.st_ino, len(data), st.st_mtime_ns)
    finally:
        os.close(fd)


def read_tail(path: Path, size: int, length: int) -> bytes:
    """The last `length` bytes of the first `size` bytes of a file."""
    fd = open_regular(path)
    try:
        start = max(0, size - length)
        try:
            return os.pread(fd, size - start, start)
        except OSError as exc:
            raise UnreadableSessionFile(path, _reason(exc)) from exc
    finally:
        os.close(fd)


def open_regular(path: Path) -> int:
    """A read-only descriptor of the regular file `path` (no link followed, no FIFO
    waited for). `FileNotFoundError`, `SymlinkRefused` or `UnreadableSessionFile`."""
    try:
        with _folder(path.parent) as folder:
            fd: int = IO.open(
                path.name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=folder
            )
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        if exc.errno == errno.ELOOP:
            raise SymlinkRefused(
                f"Refusing to follow a symbolic link inside the vault: {path}"
            ) from exc
        raise UnreadableSessionFile(path, _reason(exc)) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnreadableSessionFile(path, f"not a regular file ({kind(mode)})")
    return fd


def list_folder(folder: Path) -> list[str]:
    """The names in `folder`; [] if it is missing, not a folder or unreadable.
    `SymlinkRefused` if it, or a folder on its way from `.codearchitect/`, is a link: a
    caller must not conclude that the sessions it held are gone (and create them again)."""
    try:
        with _folder(folder) as fd:
            return os.listdir(fd)
    except OSError:
        return []


def rename(src: Path, dst: Path) -> None:
    """Rename a file into another vault folder, neither reached through a link."""
    with _folder(src.parent) as a, _folder(dst.parent) as b:
        os.rename(src.name, dst.name, src_dir_fd=a, dst_dir_fd=b)


def ensure_dir(path: Path, stop: Path) -> None:
    """Create `path` (mode 0700) and its parents up to `stop`; refuse symlinked folders.

    From `.codearchitect/` down, each folder is opened relative to its parent without
    following a link (see `open_folder`), so a link swapped in is never written through.
    """
    del stop  # the project root (created if missing), then `.codearchitect/` down
    try:
        os.close(open_folder(path, create=True))
    except OSError as exc:
        raise DirectoryCreationError(path, "Cannot create directory", details=_reason(exc)) from exc


def open_folder(folder: Path, *, create: bool = False, replace_below: Path | None = None) -> int:
    """A descriptor of `folder`, reached without following a link from `.codearchitect/`
    down: the project root (the parent of the last `.codearchitect` in the path) is opened
    as given, then each component with `O_NOFOLLOW` relative to the one before.

    A link there is `SymlinkRefused`, and anything else that is not a folder
    `DirectoryCreationError`, unless it lies below `replace_below` (the server's own state:
    it is then unlinked, never followed, and a folder made in its place). With `create`,
    missing folders are made (mode 0700, the parent synced); else `FileNotFoundError`. A
    path without `.codearchitect` (the user's registry) is opened as given.
    """
    parts = folder.parts
    if VAULT_DIR not in parts:
        if create:
            folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        return os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    start = len(parts) - 1 - parts[::-1].index(VAULT_DIR)
    claimed = len(replace_below.parts) if replace_below is not None else len(parts) + 1
    # Paths are made only to be named in an error or a log line (this runs for every file
    # a rebuild reads, a few times): the root as a string, each component by its name.
    root = os.path.join(*parts[:start]) if start else os.curdir
    if create:
        Path(root).mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    try:
        for depth in range(start, len(parts)):
            child = _open_child(fd, parts, depth, create, depth >= claimed)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_child(
    parent: int, parts: tuple[str, ...], depth: int, create: bool, replace: bool
) -> int:
    """Open `parts[depth]` in the folder `parent` (see `open_folder`); the path up to it,
    `parts[: depth + 1]`, is made only to name it in an error or a log line."""
    name = parts[depth]
    for _ in range(3):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            where = _upto(parts, depth)
            if not replace:
                if stat.S_ISLNK(st.st_mode):
                    raise SymlinkRefused(
                        f"Refusing to use a symbolically linked folder: {where}"
                    ) from None
                if not create:
                    raise FileNotFoundError(errno.ENOENT, "Not a directory", str(where)) from None
                raise DirectoryCreationError(where, "Not a directory") from None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=parent)
            log.warning("replaced a planted %s at %s by a folder", kind(st.st_mode), where)
        try:
            os.mkdir(name, DIR_MODE, dir_fd=parent)
        except FileExistsError:
            continue
        except OSError as exc:
            raise DirectoryCreationError(
                _upto(parts, depth), "Cannot create directory", details=_reason(exc)
            ) from exc
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=parent)
            os.fchmod(child, DIR_MODE)
            IO.fsync(parent)
        except OSError as exc:
            raise DirectoryCreationError(
                _upto(parts, depth), "Cannot create directory", details=_reason(exc)
            ) from exc
        return child
    raise DirectoryCreationError(
        _upto(parts, depth), "Cannot create directory", details="it kept changing"
    )


def _upto(parts: tuple[str, ...], depth: int) -> Path:
    return Path(*parts[: depth + 1])


@contextlib.contextmanager
def _folder(folder: Path) -> Iterator[int]:
    fd = open_folder(folder)
    try:
        yield fd
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    with _folder(path) as fd:
        IO.fsync(fd)


def write_atomic(path: Path, data: bytes) -> FileState:
    """Replace `path` atomically: temp file, fsync, rename, fsync of the folder.

    The file keeps its mode if it existed (else 0600). Raises `FileWriteError` with the old
    file untouched and the temp file removed.
    """
    name = path.name
    with _write_folder(path.parent) as folder:
        try:
            old = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is not None and stat.S_ISLNK(old.st_mode):
            raise SymlinkRefused(f"Refusing to follow a symbolic link inside the vault: {path}")
        mode = FILE_MODE if old is None else stat.S_IMODE(old.st_mode)
        tmp = _write_temp(folder, path.parent, data, mode)
        # A second name for the old file: if the folder's fsync fails after the rename, the
        # new version is visible but not acknowledged, so the old one is put back.
        backup = _link_backup(folder, path, tmp) if old is not None else None
        try:
            IO.replace(folder, tmp, folder, name)
        except OSError as exc:
            _unlink_quietly(folder, tmp)
            if backup is not None:
                _unlink_quietly(folder, backup)
            raise FileWriteError(path, "Cannot write file", details=_reason(exc)) from exc
        try:
            IO.fsync(folder)
        except OSError as exc:
            if backup is None:
                _unlink_quietly(folder, name)
            else:
                try:
                    IO.replace(folder, backup, folder, name)
                    backup = None
                    IO.fsync(folder)
                except OSError:
                    pass  # best effort: the error below is what the caller needs to know
            raise FileWriteError(path, "Cannot write file", details=_reason(exc)) from exc
        finally:
            if backup is not None:
                _unlink_quietly(folder, backup)
        st = os.stat(name, dir_fd=folder, follow_symlinks=False)
    return FileState(st.st_ino, st.st_size, st.st_mtime_ns)


def _link_backup(folder: int, path: Path, tmp: str) -> str:
    """Hard-link `path` under a temp name next to it (the watcher ignores that name)."""
    for n in range(100):
        backup = f"{tmp[: -len(TEMP_SUFFIX)]}-old{n}{TEMP_SUFFIX}"
        try:
            IO.link(folder, path.name, folder, backup)
        except FileExistsError:
            continue
        except OSError as exc:
            _unlink_quietly(folder, tmp)
            raise FileWriteError(path, "Cannot write file", details=_reason(exc)) from exc
        return backup
    _unlink_quietly(folder, tmp)
    raise FileWriteError(path, "Cannot write file", details="no free backup name")


def create_exclusive(folder: Path, names: Iterable[str], data: bytes) -> Path:
    """Write `data` under the first of `names` that does not exist yet; never overwrite.

    The content is written and synced to a temp file first and then hard-linked to its
    final name (`link` fails with EEXIST instead of replacing), so a reader never sees a
    partial file and two writers can never take the same name.
    """
    with _write_folder(folder) as fd:
        tmp = _write_temp(fd, folder, data, FILE_MODE)
        try:
            for name in names:
                target = folder / name
                try:
                    IO.link(fd, tmp, fd, name)
                except FileExistsError:
                    continue
                except OSError as exc:
                    raise FileWriteError(
                        target, "Cannot create file", details=_reason(exc)
                    ) from exc
                try:
                    IO.fsync(fd)
                except OSError as exc:
                    _unlink_quietly(fd, name)
                    raise FileWriteError(
                        target, "Cannot create file", details=_reason(exc)
                    ) from exc
                return target
            raise FilenameGenerationError(
                "Cannot generate a unique filename: all collision suffixes are taken",
                details=str(folder),
            )
        finally:
            _unlink_quietly(fd, tmp)


def append_bytes(path: Path, data: bytes, expected: FileState) -> FileState:
    """Append `data` in one write and fsync, if the file is still `expected`.

    Raises `FileChanged` (nothing written) when the file is another version, and
    `FileWriteError` after cutting the file back to its old size when the write or the
    fsync fails.
    """
    fd = _open_for_writing(path, os.O_WRONLY | os.O_APPEND)
    try:
        st = os.fstat(fd)
        if st.st_ino != expected.ino or st.st_size != expected.size:
            raise FileChanged(str(path))
        try:
            written = IO.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write")
            IO.fsync(fd)
        except OSError as exc:
            try:
                IO.ftruncate(fd, expected.size)
                os.fsync(fd)
            except OSError:
                pass
            raise FileWriteError(path, "Cannot append to file", details=_reason(exc)) from exc
        st = os.fstat(fd)
        return FileState(st.st_ino, st.st_size, st.st_mtime_ns)
    finally:
        os.close(fd)


def truncate_to(path: Path, size: int, expected: FileState) -> FileState:
    """Cut a torn tail: shorten the file to `size` if it is still `expected`."""
    fd = _open_for_writing(path, os.O_WRONLY)
    try:
        st = os.fstat(fd)
        if st.st_ino != expected.ino or st.st_size != expected.size:
            raise FileChanged(str(path))
        try:
            IO.ftruncate(fd, size)
            IO.fsync(fd)
        except OSError as exc:
            raise FileWriteError(path, "Cannot truncate file", details=_reason(exc)) from exc
        st = os.fstat(fd)
        return FileState(st.st_ino, st.st_size, st.st_mtime_ns)
    finally:
        os.close(fd)


def _open_for_writing(path: Path, flags: int) -> int:
    try:
        with _folder(path.parent) as folder:
            fd = os.open(path.name, flags | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SymlinkRefused(
                f"Refusing to follow a symbolic link inside the vault: {path}"
            ) from exc
        if isinstance(exc, FileNotFoundError):
            raise
        raise FileWriteError(path, "Cannot open file", details=_reason(exc)) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnreadableSessionFile(path, f"not a regular file ({kind(mode)})")
    return fd


@contextlib.contextmanager
def _write_folder(folder: Path) -> Iterator[int]:
    """`_folder` for a write: a folder that cannot be opened is `FileWriteError`."""
    try:
        fd = open_folder(folder)
    except OSError as exc:
        raise FileWriteError(folder, "Cannot open folder", details=_reason(exc)) from exc
    try:
        yield fd
    finally:
        os.close(fd)


def _write_temp(folder: int, where: Path, data: bytes, mode: int) -> str:
    """A synced temp file `.~cam-*.tmp` in the folder `folder` (`where`, for errors)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    for _ in range(100):
        tmp = f"{TEMP_PREFIX}{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            fd = os.open(tmp, flags, FILE_MODE, dir_fd=folder)
        except FileExistsError:
            continue
        except OSError as exc:
            raise FileWriteError(
                where, "Cannot create temporary file", details=_reason(exc)
            ) from exc
        break
    else:
        raise FileWriteError(where, "Cannot create temporary file", details="no free name")
    try:
        try:
            view = memoryview(data)
            while view:
                n = IO.write(fd, view)
                if n <= 0:
                    raise OSError(errno.ENOSPC, "short write")
                view = view[n:]
            os.fchmod(fd, mode)
            IO.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        _unlink_quietly(folder, tmp)
        raise FileWriteError(where, "Cannot write file", details=_reason(exc)) from exc
    return tmp


def _unlink_quietly(folder: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=folder)


def kind(mode: int) -> str:
    """What an lstat mode is, in words."""
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
