"""The vault's exception tree; every class carries the error code of docs/errors.md.

Our exception hierarchy::

    VaultError                      UNKNOWN_ERROR
      InvalidInput                  INVALID_INPUT        bad or oversize argument
        PathOutsideVault            INVALID_INPUT        a path or id that would leave the vault
      SymlinkRefused                SYMLINK_REFUSED      a symlink where a vault file or folder is
      MalformedSessionFile          MALFORMED_SESSION_FILE
      SessionNotFound               SESSION_NOT_FOUND
      MessageNotFound               MESSAGE_NOT_FOUND
      SessionDeleted                SESSION_DELETED      the id is in the trash
      AmbiguousSession              AMBIGUOUS            two files claim the same session id
      Conflict                      CONFLICT             the file changed under us, retries ran out
      SessionTooLarge               SESSION_TOO_LARGE    an append would pass the 20 MB file cap
      FileWriteError                FILE_WRITE_ERROR
        DirectoryCreationError      DIRECTORY_CREATION_ERROR
      FilenameGenerationError       FILENAME_GENERATION_ERROR

Warnings that do not fail a call (seed 003's non-fatal codes) are `VaultWarning` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = (
    "AmbiguousSession",
    "Conflict",
    "DirectoryCreationError",
    "FileWriteError",
    "FilenameGenerationError",
    "InvalidInput",
    "MalformedSessionFile",
    "MessageNotFound",
    "PathOutsideVault",
    "SessionDeleted",
    "SessionNotFound",
    "SessionTooLarge",
    "SymlinkRefused",
    "VaultError",
    "VaultWarning",
)


class VaultError(Exception):
    """Base of every error the vault raises."""

    code = "UNKNOWN_ERROR"

    def __init__(self, message: str, *, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(VaultError):
    """An argument is missing, of the wrong type, unsafe or too large."""

    code = "INVALID_INPUT"

    def __init__(self, message: str, *, field: str | None = None, details: str | None = None):
        super().__init__(message, details=details)
        self.field = field


class PathOutsideVault(InvalidInput):
    """A name or path would resolve outside the vault."""


class SymlinkRefused(VaultError):
    """A symlink stands where the vault expects a real file or folder."""

    code = "SYMLINK_REFUSED"


class UnreadableSessionFile(VaultError):
    """A session file that cannot be read (permissions, I/O error), or a FIFO, socket,
    device or folder named `*.md`: reported, skipped, and never shadowed by a new file."""

    code = "UNREADABLE_SESSION_FILE"

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"Cannot read session file {path}: {reason}", details=reason)
        self.path = Path(path)
        self.reason = reason


class MalformedSessionFile(VaultError):
    """A session file that cannot be parsed; it is reported and never rewritten."""

    code = "MALFORMED_SESSION_FILE"

    def __init__(self, path: Path | str | None, line: int, reason: str) -> None:
        where = f"{path}:{line}" if path is not None else f"line {line}"
        super().__init__(f"{where}: {reason}", details=reason)
        self.path = None if path is None else Path(path)
        self.line = line
        self.reason = reason


class SessionNotFound(VaultError):
    """No session file holds this id."""

    code = "SESSION_NOT_FOUND"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session not found: {session_id}")
        self.session_id = session_id


class MessageNotFound(VaultError):
    """No message with this id."""

    code = "MESSAGE_NOT_FOUND"

    def __init__(self, message_id: str) -> None:
        super().__init__(f"Message not found: {message_id}")
        self.message_id = message_id


class SessionDeleted(VaultError):
    """The session was deleted (it is in the trash); writes never bring it back."""

    code = "SESSION_DELETED"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session was deleted: {session_id}")
        self.session_id = session_id


class AmbiguousSession(VaultError):
    """Two or more files claim the same session id (a copied file)."""

    code = "AMBIGUOUS"

    def __init__(self, session_id: str, paths: list[Path]) -> None:
        names = ", ".join(str(p) for p in paths)
        super().__init__(f"Session id {session_id} is claimed by several files", details=names)
        self.session_id = session_id
        self.paths = paths


class Conflict(VaultError):
    """The file kept changing under us (an editor saving) and retries ran out."""

    code = "CONFLICT"


class SessionTooLarge(VaultError):
    """Appending would take the session file past its size cap."""

    code = "SESSION_TOO_LARGE"


class FileWriteError(VaultError):
    """An I/O error while writing; nothing was acknowledged and the old file is intact."""

    code = "FILE_WRITE_ERROR"

    def __init__(self, path: Path | str, message: str, *, details: str | None = None) -> None:
        super().__init__(f"{message}: {path}", details=details)
        self.path = Path(path)


class DirectoryCreationError(FileWriteError):
    """A vault folder could not be created."""

    code = "DIRECTORY_CREATION_ERROR"


class FilenameGenerationError(VaultError):
    """All 1000 collision suffixes for a file name are taken."""

    code = "FILENAME_GENERATION_ERROR"


@dataclass(frozen=True)
class VaultWarning:
    """A non-fatal condition reported alongside a successful result."""

    code: str
    message: str
