"""Baselines over the very same session files: SQLite FTS5, and an unindexed scan.

FTS5 is meant to be a fair, indexed implementation of the same search: the messages are
parsed with the vault's own parser, stored in a table with indexes on session, role and
time, and indexed by an external-content FTS5 table (unicode61 tokenizer, no diacritic
folding, like tantivy's default tokenizer). A search returns what ours returns: the top
hits by bm25 with a snippet, and the total count of matches, with the same filters.

The scan answers a search with no index at all: ripgrep (if installed) finds the files
holding the query's first word, then a regular expression splits them into message blocks, which
are tested word by word; without ripgrep, Python reads every file. It returns every match
(a scan has no corpus statistics to rank by) and ignores nothing.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vault import Vault, parse

from .queries import Filters, Query

__all__ = ("Fts5", "Scan")


def _messages(vault: Vault) -> Iterator[tuple[str, str, str, str, str]]:
    for path in vault.session_paths():
        parsed = parse(path.read_bytes(), path)
        sid = parsed.session.id
        for m in parsed.session.messages:
            yield (m.id, sid, m.role, m.created_at, m.content)


class Fts5:
    """SQLite FTS5 over the vault's messages, in its own database file."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.conn: sqlite3.Connection | None = None

    def build(self, vault: Vault, progress: Callable[[int], None] | None = None) -> int:
        """Read every file and index every message; returns the number of messages."""
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.db}{suffix}").unlink(missing_ok=True)
        conn = sqlite3.connect(self.db)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(
            """
            CREATE TABLE messages (
                rowid INTEGER PRIMARY KEY, id TEXT, session_id TEXT, role TEXT,
                created_at TEXT, content TEXT);
            CREATE VIRTUAL TABLE fts USING fts5(
                content, content='messages', content_rowid='rowid',
                tokenize='unicode61 remove_diacritics 0');
            """
        )
        count = 0
        batch: list[tuple[str, str, str, str, str]] = []
        with conn:
            for row in _messages(vault):
                batch.append(row)
                if len(batch) >= 5000:
                    count += self._insert(conn, batch)
                    batch = []
                    if progress is not None:
                        progress(count)
            count += self._insert(conn, batch)
            conn.executescript(
                """
                CREATE INDEX messages_session ON messages(session_id, created_at);
                CREATE INDEX messages_role ON messages(role, created_at);
                CREATE INDEX messages_created ON messages(created_at);
                """
            )
        conn.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        return count

    @staticmethod
    def _insert(conn: sqlite3.Connection, batch: list[tuple[str, str, str, str, str]]) -> int:
        if not batch:
            return 0
        cur = conn.execute("SELECT coalesce(max(rowid), 0) FROM messages")
        first = int(cur.fetchone()[0]) + 1
        rows = [(first + i, *row) for i, row in enumerate(batch)]
        conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.executemany(
            "INSERT INTO fts(rowid, content) VALUES (?, ?)", [(r[0], r[5]) for r in rows]
        )
        return len(rows)

    def open(self) -> Fts5:
        self.conn = sqlite3.connect(self.db, check_same_thread=False)
        self.conn.execute("PRAGMA query_only = 1")
        return self

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def search(self, query: Query, filters: Filters, limit: int) -> tuple[list[str], int]:
        """Top `limit` message ids by bm25 (with snippets, as ours has), and the total."""
        assert self.conn is not None
        where = ["fts MATCH ?"]
        args: list[Any] = [query.fts5()]
        if filters.session_id is not None:
            where.append("m.session_id = ?")
            args.append(filters.session_id)
        if filters.role is not None:
            # `+` keeps SQLite from driving the query by the role index (half the table);
            # the MATCH drives it, as tantivy's does.
            where.append("+m.role = ?")
            args.append(filters.role)
        if filters.after is not None:
            where.append("m.created_at > ?")
            args.append(filters.after)
        if filters.before is not None:
            where.append("m.created_at < ?")
            args.append(filters.before)
        cond = " AND ".join(where)
        rows = self.conn.execute(
            "SELECT m.id, m.session_id, m.role, m.created_at, "
            "snippet(fts, 0, '**', '**', '…', 24), bm25(fts) AS score "
            f"FROM fts JOIN messages AS m ON m.rowid = fts.rowid WHERE {cond} "
            "ORDER BY score LIMIT ?",
            (*args, limit),
        ).fetchall()
        total = self.conn.execute(
            f"SELECT count(*) FROM fts JOIN messages AS m ON m.rowid = fts.rowid WHERE {cond}",
            args,
        ).fetchone()[0]
        return [r[0] for r in rows], int(total)

    def size(self) -> int:
        return sum(
            Path(f"{self.db}{s}").stat().st_size
            for s in ("", "-wal", "-shm")
            if Path(f"{self.db}{s}").exists()
        )


class Scan:
    """No index: find the files, parse them, test every message."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.rg = shutil.which("rg")

    @property
    def tool(self) -> str:
        return "ripgrep" if self.rg else "python"

    def _candidates(self, query: Query) -> list[Path]:
        word = query.words[0]
        if self.rg:
            proc = subprocess.run(
                [self.rg, "--files-with-matches", "--ignore-case", "--word-regexp",
                 "--fixed-strings", "--no-messages", "--", word, str(self.vault.sessions_dir)],
                capture_output=True, check=False,
            )  # fmt: skip
            return [Path(p) for p in proc.stdout.decode().splitlines() if p.endswith(".md")]
        needle = word.lower().encode()
        return [p for p in self.vault.session_paths() if needle in p.read_bytes().lower()]

    def search(self, query: Query, filters: Filters, limit: int) -> tuple[list[str], int]:
        """Every matching message id (no ranking), and their count."""
        patterns = query.patterns()
        ids: list[str] = []
        for path in self._candidates(query):
            data = path.read_bytes()
            sid = _session_id(data)
            if filters.session_id is not None and sid != filters.session_id:
                continue
            for block in _BLOCK.finditer(data.decode("utf-8", "replace")):
                mid, role, ts, body = block.groups()
                loc = {"session_id": sid, "role": role, "created_at": ts}
                if filters.admits(loc) and all(p.search(body) for p in patterns):
                    ids.append(mid)
        return ids, len(ids)


# A message block: its start marker, optional metadata line and heading, the text, its end.
_BLOCK = re.compile(
    r"^<!-- cam:msg id=(\S+) role=(\S+) ts=(\S+)[^\n]*\n"
    r"(?:<!-- cam:meta [^\n]*\n)?(?:### [^\n]*\n)?(.*?)\n<!-- /cam:msg id=\1 -->$",
    re.MULTILINE | re.DOTALL,
)
_ID = re.compile(rb"^id: *'?([^'\n]+)'?$", re.MULTILINE)


def _session_id(data: bytes) -> str:
    found = _ID.search(data, 0, 4096)
    return found.group(1).decode() if found else ""


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(milliseconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result
