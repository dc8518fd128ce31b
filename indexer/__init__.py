"""codearchitect's indexer: the SQLite mirror, the tantivy full-text index, and the sync
that keeps both in step with the vault's files (docs/indexing.md)."""

from .errors import IndexerError, IndexUnavailable, InvalidQuery
from .records import (
    ConversationPair,
    IndexStatus,
    MalformedFile,
    MessageRecord,
    ReconcileReport,
    SearchHit,
    SearchResult,
    SessionRecord,
)
from .service import Indexer
from .settings import IndexSettings
from .watcher import Change, FileChange, SessionFileFilter, watch

__all__ = (
    "Change",
    "ConversationPair",
    "FileChange",
    "IndexSettings",
    "IndexStatus",
    "IndexUnavailable",
    "Indexer",
    "IndexerError",
    "InvalidQuery",
    "MalformedFile",
    "MessageRecord",
    "ReconcileReport",
    "SearchHit",
    "SearchResult",
    "SessionFileFilter",
    "SessionRecord",
    "watch",
)
