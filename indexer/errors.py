"""The indexer's exception tree; every class carries its error code (docs/indexing.md).

Our exception hierarchy::

    IndexerError                INDEX_UNAVAILABLE
      InvalidQuery              INVALID_QUERY       a search query that cannot be parsed
      IndexUnavailable          INDEX_UNAVAILABLE   SQLite or tantivy cannot be opened or used
        MirrorDamaged           INDEX_UNAVAILABLE   the SQLite mirror file is damaged (rebuilt)

Raw `sqlite3.Error`, tantivy `ValueError` and `OSError` never cross the package boundary:
`translate_errors()` turns them into `IndexUnavailable` with the cause chained.
Vault errors (`vault.VaultError`) pass through unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = (
    "IndexUnavailable",
    "IndexerError",
    "InvalidQuery",
    "MirrorDamaged",
    "translate_errors",
)


class IndexerError(Exception):
    """Base of every error the indexer raises."""

    code = "INDEX_UNAVAILABLE"

    def __init__(self, message: str, *, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidQuery(IndexerError):
    """A search query with a syntax error; `position` is the 0-based character offset."""

    code = "INVALID_QUERY"

    def __init__(self, query: str, position: int, reason: str) -> None:
        super().__init__(
            f"Invalid query at position {position}: {reason}", details=f"{query!r} @ {position}"
        )
        self.query = query
        self.position = position
        self.reason = reason


class IndexUnavailable(IndexerError):
    """The SQLite mirror or the tantivy index cannot be opened, locked or read."""

    code = "INDEX_UNAVAILABLE"


class MirrorDamaged(IndexUnavailable):
    """A query met a damaged page of the SQLite mirror (SQLITE_CORRUPT, SQLITE_NOTADB): the
    leader replaces the file and reads the session files again (indexer/worker.py)."""


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Re-raise low-level storage errors as `IndexUnavailable` (once, at the boundary)."""
    try:
        yield
    except IndexerError:
        raise
    except sqlite3.Error as exc:
        if type(exc) is sqlite3.DatabaseError:  # corrupt or not a database
            raise MirrorDamaged(f"{what}: the SQLite mirror is damaged", details=str(exc)) from exc
        raise IndexUnavailable(f"{what}: SQLite error", details=str(exc)) from exc
    except (ValueError, RuntimeError, OSError) as exc:
        raise IndexUnavailable(f"{what}: {type(exc).__name__}", details=str(exc)) from exc
