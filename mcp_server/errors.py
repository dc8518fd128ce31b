"""The one table of error codes, and the mapping from exceptions to tool results.

Every failure a client sees is `{"success": false, "error": CODE, "message": ..., "details":
...}` with `isError: true`. Codes come from `ERROR_CODES` (documented in docs/errors.md);
vault and indexer exceptions carry their code as a class attribute, so the mapping walks
nothing but `exc.code`. An unexpected exception is logged with its traceback on stderr
and reaches the client as `UNKNOWN_ERROR` with no traceback and no internal path.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

__all__ = ("ERROR_CODES", "WARNING_CODES", "ProtocolError", "error_envelope", "error_payload")

log = logging.getLogger("codearchitect.mcp")

# code -> (when it happens, HTTP equivalent). Seed 003's codes keep their meaning.
ERROR_CODES: dict[str, tuple[str, int]] = {
    "INVALID_INPUT": ("A missing, wrongly typed, unsafe or oversize argument", 400),
    "INVALID_QUERY": ("A search query with a syntax error (the position is in details)", 400),
    "FILE_WRITE_ERROR": ("A file could not be written (permissions, disk full, I/O error)", 500),
    "FILENAME_GENERATION_ERROR": ("All 1000 collision suffixes of a file name are taken", 500),
    "DIRECTORY_CREATION_ERROR": ("A vault folder could not be created", 500),
    "SESSION_NOT_FOUND": ("No session has this id", 404),
    "MESSAGE_NOT_FOUND": ("No message has this id", 404),
    "SESSION_DELETED": (
        "The session was deleted (it is in the trash); writes never revive it",
        410,
    ),
    "MALFORMED_SESSION_FILE": ("The session's file cannot be parsed; it is never rewritten", 422),
    "UNREADABLE_SESSION_FILE": (
        "A session file cannot be read, or is not a regular file; it is never shadowed",
        422,
    ),
    "CONFLICT": ("The file kept changing under us (an editor saving); try again", 409),
    "AMBIGUOUS": ("Several files claim this session id (a copied file)", 409),
    "SYMLINK_REFUSED": ("A symbolic link stands where a vault file or folder should be", 403),
    "SESSION_TOO_LARGE": ("The session file would pass its 20 MB cap", 413),
    "PROJECT_NOT_FOUND": ("`project` is neither a registered name nor a project root", 404),
    "TOOL_NOT_FOUND": ("No tool has this name (details: the tools there are)", 404),
    "RESOURCE_NOT_FOUND": ("No resource has this URI", 404),
    "VAULT_NOT_FOUND": ("A command found no .codearchitect/ to read or maintain", 404),
    "INDEX_UNAVAILABLE": ("The index could not be opened or written", 503),
    "SEMANTIC_UNAVAILABLE": (
        "Semantic search is on but its extra or model is not installed (details: the command)",
        503,
    ),
    "UNKNOWN_ERROR": ("An unexpected error (logged on the server's stderr)", 500),
}

# Non-fatal: reported in `warning`/`warnings` of a successful result.
WARNING_CODES: dict[str, str] = {
    "PROJECT_ROOT_NOT_FOUND": "No project root found; the working directory is used",
    "TOPIC_EXTRACTION_ERROR": "No topic could be made; 'untitled' is used",
    "TRUNCATED": "The conversation or message was cut to 1 MB",
    "EMPTY_CONVERSATION": "An empty message list was stored",
    "INDEX_BEHIND": "Saved to the file; the index missed it and catches up from the file",
}


class ProtocolError(Exception):
    """A failure of the request itself (an unknown tool or resource), with its code."""

    def __init__(self, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def error_envelope(code: str, message: str, details: str | None = None) -> dict[str, Any]:
    """`{"success": false, "error": code, "message", "details"}` for a documented code."""
    if code not in ERROR_CODES:
        raise ValueError(f"undocumented error code {code}")
    return {"success": False, "error": code, "message": message, "details": details}


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The failure envelope for an exception."""
    if isinstance(exc, ValidationError):
        return _validation_payload(exc)
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code in ERROR_CODES:
        message = getattr(exc, "message", None) or str(exc)
        details = getattr(exc, "details", None)
        field = getattr(exc, "field", None)
        if field and not details:
            details = f"field: {field}"
        return error_envelope(code, message, details)
    log.exception("unexpected error", exc_info=exc)
    return error_envelope(
        "UNKNOWN_ERROR", f"Unexpected error ({type(exc).__name__}); see the server log"
    )


def _validation_payload(exc: ValidationError) -> dict[str, Any]:
    problems = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "arguments"
        problems.append(f"{field}: {_reason(err['msg'])}")
    first = exc.errors()[0] if exc.errors() else None
    field = ".".join(str(p) for p in first["loc"]) if first else "arguments"
    return error_envelope(
        "INVALID_INPUT",
        f"Invalid argument '{field}': {_reason(first['msg']) if first else 'invalid'}",
        "; ".join(problems),
    )


def _reason(msg: str) -> str:
    """pydantic's message without the prefix it adds to our own validators' errors."""
    return msg.removeprefix("Value error, ")
