"""Safe file IO: atomic replace, exclusive create, durable append, no symlinks followed.

Every acknowledged write is on disk: the file is fsynced, and for a new or replaced file
the directory too. A failed write leaves the old file byte-identical and no temp file
behind. Temp files are named `.~cam-*.tmp`, which the watcher ignores.

The `IO` object holds the OS calls so that tests can inject faults (ENOSPC, EIO) at each
step without touching the global `os` module.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from .errors import DirectoryCreationError, FilenameGenerationError, FileWriteError, SymlinkRefused

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
    "read_bytes",
    "stat_file",
    "truncate_to",
    "write_atomic",
)

TEMP_PREFIX = ".~cam-"
TEMP_SUFFIX = ".tmp"
FILE_MODE = 0o600
DIR_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

IO = SimpleNamespace(
    write=os.write,
    fsync=os.fsync,
    replace=os.replace,
    link=os.link,
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
    """lstat a vault file; None if missing; `SymlinkRefused` if it is a link."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise SymlinkRefused(f"Refusing to follow a symbolic link inside the vault: {path}")
    return FileState(st.st_ino, st.st_size, st.st_mtime_ns)


def read_bytes(path: Path) -> tuple[bytes, FileState]:
    """Read a whole file without following a symlink; the state is of the bytes read."""
    fd = _open_nofollow(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        return data, FileState(st.st_ino, len(data), st.st_mtime_ns)
    finally:
        os.close(fd)


def read_tail(path: Path, size: int, length: int) -> bytes:
    """The last `length` bytes of the first `size` bytes of a file."""
    fd = _open_nofollow(path, os.O_RDONLY)
    try:
        start = max(0, size - length)
        return os.pread(fd, size - start, start)
    finally:
        os.close(fd)


def ensure_dir(path: Path, stop: Path) -> None:
    """Create `path` (mode 0700) and its parents up to `stop`; refuse symlinked folders."""
    missing: list[Path] = []
    current = path
    while True:
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            missing.append(current)
            if current == stop or current.parent == current:
                break
            current = current.parent
            continue
        if stat.S_ISLNK(st.st_mode):
            raise SymlinkRefused(f"Refusing to use a symbolically linked folder: {current}")
        if not stat.S_ISDIR(st.st_mode):
            raise DirectoryCreationError(current, "Not a directory")
        break
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            if os.path.islink(folder):
                raise SymlinkRefused(
                    f"Refusing to use a symbolically linked folder: {folder}"
                ) from None
        except OSError as exc:
            raise DirectoryCreationError(
                folder, "Cannot create directory", details=str(exc)
            ) from exc
        else:
            try:
                os.chmod(folder, DIR_MODE)
                fsync_dir(folder.parent)
            except OSError as exc:
                raise DirectoryCreationError(
                    folder, "Cannot create directory", details=str(exc)
                ) from exc


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    try:
        IO.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> FileState:
    """Replace `path` atomically: temp file, fsync, rename, fsync of the folder.

    The file keeps its mode if it existed (else 0600). Raises `FileWriteError` with the old
    file untouched and the temp file removed.
    """
    old = stat_file(path)
    mode = FILE_MODE
    if old is not None:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
    tmp = _write_temp(path.parent, data, mode)
    # A second name for the old file: if the folder's fsync fails after the rename, the
    # new version is visible but not acknowledged, so the old one is put back.
    backup = _link_backup(path, tmp) if old is not None else None
    try:
        IO.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        if backup is not None:
            _unlink_quietly(backup)
        raise FileWriteError(path, "Cannot write file", details=_reason(exc)) from exc
    try:
        fsync_dir(path.parent)
    except OSError as exc:
        if backup is None:
            _unlink_quietly(path)
        else:
            try:
                IO.replace(backup, path)
                backup = None
                fsync_dir(path.parent)
            except OSError:
                pass  # best effort: the error below is what the caller needs to know
        raise FileWriteError(path, "Cannot write file", details=_reason(exc)) from exc
    finally:
        if backup is not None:
            _unlink_quietly(backup)
    st = os.lstat(path)
    return FileState(st.st_ino, st.st_size, st.st_mtime_ns)


def _link_backup(path: Path, tmp: str) -> str:
    """Hard-link `path` under a temp name next to it (the watcher ignores that name)."""
    for n in range(100):
        backup = f"{tmp[: -len(TEMP_SUFFIX)]}-old{n}{TEMP_SUFFIX}"
        try:
            IO.link(path, backup)
        except FileExistsError:
            continue
        except OSError as exc:
            _unlink_quietly(tmp)
            raise FileWriteError(path, "Cannot write file", details=_reason(exc)) from exc
        return backup
    _unlink_quietly(tmp)
    raise FileWriteError(path, "Cannot write file", details="no free backup name")


def create_exclusive(folder: Path, names: Iterable[str], data: bytes) -> Path:
    """Write `data` under the first of `names` that does not exist yet; never overwrite.

    The content is written and synced to a temp file first and then hard-linked to its
    final name (`link` fails with EEXIST instead of replacing), so a reader never sees a
    partial file and two writers can never take the same name.
    """
    tmp = _write_temp(folder, data, FILE_MODE)
    try:
        for name in names:
            target = folder / name
            try:
                IO.link(tmp, target)
            except FileExistsError:
                continue
            except OSError as exc:
                raise FileWriteError(target, "Cannot create file", details=_reason(exc)) from exc
            try:
                fsync_dir(folder)
            except OSError as exc:
                _unlink_quietly(target)
                raise FileWriteError(target, "Cannot create file", details=_reason(exc)) from exc
            return target
        raise FilenameGenerationError(
            "Cannot generate a unique filename: all collision suffixes are taken",
            details=str(folder),
        )
    finally:
        _unlink_quietly(tmp)


def append_bytes(path: Path, data: bytes, expected: FileState) -> FileState:
    """Append `data` in one write and fsync, if the file is still `expected`.

    Raises `FileChanged` (nothing written) when the file is another version, and
    `FileWriteError` after cutting the file back to its old size when the write or the
    fsync fails.
    """
    fd = _open_nofollow(path, os.O_WRONLY | os.O_APPEND)
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
    fd = _open_nofollow(path, os.O_WRONLY)
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


def _open_nofollow(path: Path, flags: int) -> int:
    try:
        return os.open(path, flags | _NOFOLLOW | _CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SymlinkRefused(
                f"Refusing to follow a symbolic link inside the vault: {path}"
            ) from exc
        if isinstance(exc, FileNotFoundError):
            raise
        raise FileWriteError(path, "Cannot open file", details=_reason(exc)) from exc


def _write_temp(folder: Path, data: bytes, mode: int) -> str:
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise FileWriteError(folder, "Cannot create temporary file", details=_reason(exc)) from exc
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
        _unlink_quietly(tmp)
        raise FileWriteError(folder, "Cannot write file", details=_reason(exc)) from exc
    return tmp


def _unlink_quietly(path: str | Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
