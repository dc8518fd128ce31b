"""codearchitect's vault: the session file format and the only code that writes it."""

from .config import Settings
from .errors import (
    AmbiguousSession,
    Conflict,
    DirectoryCreationError,
    FilenameGenerationError,
    FileWriteError,
    InvalidInput,
    MalformedSessionFile,
    MessageNotFound,
    PathOutsideVault,
    SessionDeleted,
    SessionNotFound,
    SessionTooLarge,
    SymlinkRefused,
    UnreadableSessionFile,
    VaultError,
    VaultWarning,
)
from .files import FileState, checksum
from .lookup import is_session_name
from .paths import ProjectRoot, find_project_root, slugify
from .session_file import Message, ParsedSession, SessionFile, dumps, load, loads, parse
from .vault import Appended, Stored, Vault

__all__ = (
    "AmbiguousSession",
    "Appended",
    "Conflict",
    "DirectoryCreationError",
    "FileState",
    "FileWriteError",
    "FilenameGenerationError",
    "InvalidInput",
    "MalformedSessionFile",
    "Message",
    "MessageNotFound",
    "ParsedSession",
    "PathOutsideVault",
    "ProjectRoot",
    "SessionDeleted",
    "SessionFile",
    "SessionNotFound",
    "SessionTooLarge",
    "Settings",
    "Stored",
    "SymlinkRefused",
    "UnreadableSessionFile",
    "Vault",
    "VaultError",
    "VaultWarning",
    "checksum",
    "dumps",
    "find_project_root",
    "is_session_name",
    "load",
    "loads",
    "parse",
    "slugify",
)
