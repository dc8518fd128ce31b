"""What the derived state looks like: the SQLite mirror's DDL and the tantivy schema.

Bumping `SCHEMA_VERSION` (SQLite) or `FULLTEXT_VERSION` (tantivy) makes the next process
that opens the index drop that store and rebuild it from the files.
"""

from __future__ import annotations

import tantivy

__all__ = (
    "DB_NAME",
    "DDL",
    "FULLTEXT_DIR",
    "FULLTEXT_VERSION",
    "KEY_FIELDS",
    "LEADER_LOCK",
    "MESSAGE_COLUMNS",
    "SCHEMA_VERSION",
    "SESSION_COLUMNS",
    "TABLES",
    "build_fulltext_schema",
    "default_analyzer",
    "stem_analyzer",
)

SCHEMA_VERSION = 2
FULLTEXT_VERSION = 3  # 2: tool calls in `content`, the `tool` field; 3: `heading` (issue 13)
DB_NAME = "mirror.sqlite3"
FULLTEXT_DIR = "fulltext"
LEADER_LOCK = "leader.lock"
KEY_FIELDS = ("agent_id", "channel", "account_id", "peer_kind", "peer_id")
# The columns of `sessions` and `messages` in the DDL below, named once: inserts, dumps and
# records are built from these (tests/indexer pins them against the DDL).
SESSION_COLUMNS = (
    "file_id",
    "id",
    "title",
    "topic",
    "created",
    "updated",
    "status",
    *KEY_FIELDS,
    "tags",
    "metadata",
    "source",
    "source_id",
    "source_path",
    "imported_at",
    "truncated",
    "extra",
    "message_count",
    "created_at",
    "updated_at",
    "last_message_at",
)
MESSAGE_COLUMNS = (
    "file_id",
    "position",
    "id",
    "session_id",
    "role",
    "content",
    "metadata",
    "created_at",
    "edited",
)
TABLES = ("vec_rows", "vec_msgs", "fulltext_queue", "messages", "sessions", "files", "state")

DDL = """
CREATE TABLE state (
    key   TEXT PRIMARY KEY,
    value
);
-- One row per session file seen on disk, parsed or not.
CREATE TABLE files (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: tantivy docs name it
    path          TEXT NOT NULL UNIQUE,               -- relative to sessions/, '/'-separated
    ino           INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    mtime_ns      INTEGER NOT NULL,
    hash          TEXT,              -- sha256 of the whole file; NULL after an in-process append
    prefix_size   INTEGER NOT NULL DEFAULT 0,  -- bytes known to parse to the first
    prefix_hash   TEXT,                        -- prefix_count messages (for tail-only parses)
    prefix_count  INTEGER NOT NULL DEFAULT 0,
    body_offset   INTEGER NOT NULL DEFAULT 0,
    indexed_at_ns INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('ok', 'malformed', 'refused')),
    error         TEXT,
    error_line    INTEGER
);
CREATE TABLE sessions (
    file_id         INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    title           TEXT NOT NULL,
    topic           TEXT NOT NULL,
    created         TEXT NOT NULL,
    updated         TEXT,
    status          TEXT NOT NULL,
    agent_id        TEXT,
    channel         TEXT,
    account_id      TEXT,
    peer_kind       TEXT,
    peer_id         TEXT,
    tags            TEXT NOT NULL,   -- JSON list
    metadata        TEXT NOT NULL,   -- JSON object
    source          TEXT,
    source_id       TEXT,
    source_path     TEXT,
    imported_at     TEXT,
    truncated       INTEGER NOT NULL,
    extra           TEXT NOT NULL,   -- JSON object of unknown frontmatter keys
    message_count   INTEGER NOT NULL,
    created_at      TEXT NOT NULL,   -- normalised `created`
    updated_at      TEXT NOT NULL,   -- latest of created, updated and the last message time
    last_message_at TEXT
);
CREATE INDEX sessions_by_id ON sessions(id);
CREATE INDEX sessions_by_key ON sessions(agent_id, channel, account_id, peer_kind, peer_id);
CREATE INDEX sessions_by_updated ON sessions(updated_at);
CREATE TABLE messages (
    pk          INTEGER PRIMARY KEY,
    file_id     INTEGER NOT NULL REFERENCES sessions(file_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    id          TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    role        TEXT NOT NULL,
    content     TEXT NOT NULL,
    metadata    TEXT NOT NULL,   -- JSON object
    created_at  TEXT NOT NULL,
    edited      INTEGER NOT NULL,
    UNIQUE (file_id, position),
    UNIQUE (file_id, id)
);
CREATE INDEX messages_by_time ON messages(created_at);
-- Changes the tantivy index has not absorbed yet (kind: 'msg', 'file' or 'all').
CREATE TABLE fulltext_queue (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    file_id     INTEGER,
    message_id  TEXT,
    enqueued_ns INTEGER NOT NULL
);
-- Semantic search (indexer/semantic/): which messages are embedded, and the rows of the
-- vector store (state `vec_store`) holding their chunks. A deleted message row takes its
-- vector rows with it, so deleted or replaced text never comes back in results.
CREATE TABLE vec_msgs (
    pk          INTEGER PRIMARY KEY,   -- messages.pk
    chunks      INTEGER NOT NULL,
    embedded_ns INTEGER NOT NULL
);
CREATE TABLE vec_rows (
    pk    INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    row   INTEGER NOT NULL,
    PRIMARY KEY (pk, chunk)
) WITHOUT ROWID;
CREATE INDEX vec_rows_by_row ON vec_rows(row);
CREATE TRIGGER messages_vec_gone AFTER DELETE ON messages BEGIN
    DELETE FROM vec_msgs WHERE pk = OLD.pk;
    DELETE FROM vec_rows WHERE pk = OLD.pk;
END;
"""


def build_fulltext_schema() -> tantivy.Schema:
    """One document per message; `key` = "<file id>/<message id>" is its identity."""
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("key", stored=True, tokenizer_name="raw")
    sb.add_text_field("file", stored=True, tokenizer_name="raw")
    sb.add_text_field("message_id", stored=True, tokenizer_name="raw")
    sb.add_text_field("session_id", stored=True, tokenizer_name="raw")
    sb.add_text_field("role", stored=True, tokenizer_name="raw")
    for name in KEY_FIELDS:
        sb.add_text_field(name, stored=False, tokenizer_name="raw")
    # The message's text as searched: its content, thinking, tool calls and results
    # (vault.message_views.search_text).
    sb.add_text_field("content", stored=True)
    # The tools it calls or answers, ASCII-lowercased (indexer/tool_filter.py).
    sb.add_text_field("tool", stored=False, tokenizer_name="raw")
    sb.add_text_field("title", stored=True)
    # The words of the session's title and topic its first message lacks, stemmed
    # (tantivy's built-in "en_stem": the default analysis plus the Snowball English
    # stemmer): a match lifts the session's messages (indexer/query.py). The content is
    # not indexed stemmed (that tripled tantivy's indexing time): a query word is expanded
    # to the forms that share its stem instead.
    sb.add_text_field("heading", stored=False, tokenizer_name="en_stem")
    sb.add_text_field("created_at", stored=True, tokenizer_name="raw")
    sb.add_date_field("created", stored=False, indexed=True, fast=True)
    return sb.build()


def default_analyzer() -> tantivy.TextAnalyzer:
    """The same analysis as tantivy's "default" tokenizer, for building queries."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .build()
    )


def stem_analyzer() -> tantivy.TextAnalyzer:
    """The same analysis as tantivy's "en_stem" tokenizer (the field `heading`), for
    building queries."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )
