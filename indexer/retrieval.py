"""Search: keyword (tantivy BM25), semantic (vectors) and hybrid (both: fusion.py).
`search` is handed the stores it reads (`Stores`), not the `Indexer` facade.

The semantic side embeds the query without the content words most of the vault's messages
hold (focus.py: an embedding has no idf). The keyword side of hybrid is the query's words
but English stop words, ranked by BM25
(a question in plain words rarely has all its words in the answer, and no word is dropped
for being common: BM25's idf already weighs it). A query that is not valid keyword syntax
is read as plain words in the semantic and hybrid modes.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

import tantivy

from vault import InvalidInput
from vault.message_views import search_text_json

from .errors import translate_errors
from .filters import MessageFilter, check_page, search_filters
from .focus import semantic_text
from .fulltext import Candidate, FullText
from .fusion import NEIGHBOUR_WINDOW, fuse, lift_by_neighbours
from .mirror import Mirror
from .query import compile_query, natural_query
from .records import SearchHit, SearchResult
from .semantic import SemanticIndex, SemanticUnavailable, VectorHit

__all__ = ("CANDIDATES", "MODES", "Stores", "resolve_mode", "search")

MODES = ("keyword", "semantic", "hybrid")
CANDIDATES = 150  # per side, before fusion (docs/retrieval.md: measured)
SNIPPET_CHARS = 200
PARALLEL = True  # hybrid: keyword side in a thread of its own
FOCUS = True  # the semantic side embeds the query without the vault's common words


@dataclass(frozen=True)
class Stores:
    """What search and context read: the SQLite mirror, the full-text index, the vectors."""

    mirror: Mirror
    fulltext: FullText
    semantic: SemanticIndex


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _keyword_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(2, "codearchitect-keyword")
        return _pool


def resolve_mode(semantic: SemanticIndex, mode: str | None, filters: MessageFilter) -> str:
    """The mode to run: the caller's, else hybrid when semantic search is enabled and
    every message the filters allow is embedded, else keyword."""
    if mode is not None and mode not in MODES:
        raise InvalidInput(f"'mode' must be one of {', '.join(MODES)}", field="mode")
    if mode == "keyword":
        return mode
    if mode is None:
        if semantic.enabled and semantic.caught_up(filters):
            return "hybrid"
        return "keyword"
    if not semantic.config().enabled:
        raise InvalidInput(
            f"{mode} search is off for this project; turn it on with: codearchitect semantic enable",
            field="mode",
        )
    missing = semantic.unavailable()
    if missing is not None:
        raise SemanticUnavailable(str(missing), details=missing.details)
    return mode


def search(
    stores: Stores,
    query: str,
    *,
    session_id: str | None = None,
    role: str | None = None,
    after: str | datetime | None = None,
    before: str | datetime | None = None,
    limit: int = 10,
    offset: int = 0,
    mode: str | None = None,
    key_fields: dict[str, str | None] | None = None,
    tool: str | None = None,
    snippets: bool = True,
) -> SearchResult:
    """Search ranked by BM25 with highlighted snippets (docs/indexing.md), by meaning,
    or both fused (`mode`: keyword | semantic | hybrid; default hybrid when semantic
    search is on and caught up for the filtered messages, else keyword;
    docs/retrieval.md).

    `snippets=False`: hits without snippets (empty) and, in keyword mode, uncounted
    (`total` is the number of hits returned): what get_context reads, which shows whole
    messages.

    Raises `InvalidQuery` (code INVALID_QUERY, with `.position`) for a query that cannot
    mean anything (keyword mode).
    """
    check_page(limit, offset)
    fulltext = stores.fulltext
    schema = fulltext.schema
    filters = search_filters(schema, session_id, role, after, before, key_fields or {}, tool)
    if mode != "keyword":
        with translate_errors("Search failed"):
            mode = resolve_mode(stores.semantic, mode, filters.messages)
            if mode != "keyword":
                return _by_meaning(
                    stores, query, filters.queries, filters.messages, mode, limit, offset, snippets
                )
    known = fulltext.vocabulary(stores.mirror)
    compiled = compile_query(query, schema, fulltext.analyzer, known=known)
    if compiled.query is None or limit == 0:
        return SearchResult((), 0)

    def ranked(words: tantivy.Query) -> SearchResult:
        return fulltext.search(
            stores.mirror,
            words,
            filters.queries,
            limit=limit,
            offset=offset,
            count=snippets,
            snippets=snippets,
        )

    with translate_errors("Search failed"):
        result = ranked(compiled.query)
        if result.total == 0 and compiled.relaxed is not None:
            # no message holds the quoted phrase: rank its words instead (docs/indexing.md)
            result = ranked(compiled.relaxed)
        return result


def _by_meaning(
    stores: Stores,
    query: str,
    tantivy_filters: list[tantivy.Query],
    filters: MessageFilter,
    mode: str,
    limit: int,
    offset: int,
    with_snippets: bool = True,
) -> SearchResult:
    """Semantic or hybrid search; hits say which side found them."""
    want = offset + limit
    if limit == 0 or not query.strip():
        return SearchResult((), 0, mode=mode)
    semantic = stores.semantic
    pool = max(CANDIDATES, want) if mode == "hybrid" else want
    keyword = None
    if mode == "hybrid" and PARALLEL:  # the keyword side runs while the query is embedded
        keyword = _keyword_pool().submit(_keyword_candidates, stores, query, tantivy_filters, pool)
    try:
        vector = semantic.encode_query(_semantic_query(stores, query))
        vec_hits = semantic.search(vector, filters, pool)
        vec_keyed, snippets = _vector_hits(stores, vec_hits)
    except BaseException:
        if keyword is not None:
            keyword.cancel()
        raise
    if mode == "semantic":
        page = [
            _with(snippets.fill(h) if with_snippets else h, score=v.score, found_by=("semantic",))
            for v, h in vec_keyed[offset:want]
        ]
        return SearchResult(tuple(page), len(vec_keyed), mode=mode)
    if keyword is not None:
        kw_found, stale = keyword.result()
    else:
        kw_found, stale = _keyword_candidates(stores, query, tantivy_filters, pool)
    kw_first: dict[tuple[str, str], Candidate] = {}
    for found in kw_found:
        kw_first.setdefault((found.hit.session_id, found.hit.message_id), found)
    by_key = {key: found.hit for key, found in kw_first.items()}
    for _, hit in vec_keyed:
        by_key.setdefault((hit.session_id, hit.message_id), hit)
    kw_scored = [((c.hit.session_id, c.hit.message_id), c.hit.score) for c in kw_found]
    vec_scored = [((h.session_id, h.message_id), v.score) for v, h in vec_keyed]
    fused = lift_by_neighbours(fuse(kw_scored, vec_scored), _neighbours(stores, list(by_key)))
    kw_set, vec_set = {k for k, _ in kw_scored}, {k for k, _ in vec_scored}
    ordered = sorted(fused, key=lambda k: (-fused[k], by_key[k].created_at))
    hits = []
    for key in ordered[offset:want]:
        found_by = tuple(
            name for name, keys in (("keyword", kw_set), ("semantic", vec_set)) if key in keys
        )
        # snippets for the hits returned only (of up to CANDIDATES a side)
        if not with_snippets:
            hit = by_key[key]
        elif key in kw_set:
            hit = kw_first[key].with_snippet()
        else:
            hit = snippets.fill(by_key[key])
        hits.append(_with(hit, score=round(fused[key], 6), found_by=found_by))
    return SearchResult(tuple(hits), len(fused), stale, mode=mode)


def _semantic_query(stores: Stores, query: str) -> str:
    """The text embedded for `query`: without the words many of the vault's messages hold
    (focus.py), unless `FOCUS` is off."""
    if not FOCUS:
        return query
    frequency, documents = stores.fulltext.frequencies(stores.mirror)
    return semantic_text(query, frequency, documents)


def _neighbours(
    stores: Stores, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """For each (session id, message id): the ones among `keys` at most
    `NEIGHBOUR_WINDOW` places before or after it in its session file."""
    if not keys:
        return {}
    values = ",".join("(?, ?)" for _ in keys)
    with stores.mirror.read() as conn:
        rows = conn.execute(
            f"WITH k(sid, mid) AS (VALUES {values}) "
            "SELECT k.sid, k.mid, m.file_id, m.position FROM k "
            "JOIN sessions AS s ON s.id = k.sid "
            "JOIN messages AS m ON m.file_id = s.file_id AND m.id = k.mid",
            [part for key in keys for part in key],
        ).fetchall()
    at = {(r["file_id"], r["position"]): (r["sid"], r["mid"]) for r in rows}
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for (file_id, position), key in at.items():
        near = [
            at.get((file_id, position + d))
            for d in range(-NEIGHBOUR_WINDOW, NEIGHBOUR_WINDOW + 1)
            if d != 0
        ]
        out[key] = [n for n in near if n is not None]
    return out


def _keyword_candidates(
    stores: Stores, query: str, filters: list[tantivy.Query], pool: int
) -> tuple[list[Candidate], bool]:
    """The keyword side of hybrid: the keyword language's ranking of the query's words
    (`natural_query`: stop words out, stem forms in, quoted phrases ranked, not required)."""
    fulltext = stores.fulltext
    relaxed = natural_query(
        query, fulltext.schema, fulltext.analyzer, known=fulltext.vocabulary(stores.mirror)
    )
    if relaxed is None:
        return [], False
    return fulltext.candidates(stores.mirror, relaxed, filters, pool)


class _Snippets:
    """Snippets of semantic hits, made only for the hits returned: the best chunk's text,
    which needs the message tokenised again unless it is the first chunk."""

    def __init__(self, semantic: SemanticIndex) -> None:
        self._semantic = semantic
        # key -> (content, metadata, chunk): the text embedded is made only for hits returned
        self.pending: dict[tuple[str, str], tuple[str, str, int]] = {}

    def fill(self, hit: SearchHit) -> SearchHit:
        found = self.pending.get((hit.session_id, hit.message_id))
        if found is None:
            return hit
        raw, metadata, chunk = found
        content = search_text_json(raw, metadata)  # the text embedded
        text = content
        if chunk > 0:
            chunks = self._semantic.embedder().chunks(content)
            text = chunks[chunk].text if chunk < len(chunks) else content
        else:  # the first chunk starts at the first word
            text = content.lstrip()
            if len(text.rstrip()) <= SNIPPET_CHARS:
                text = text.rstrip()
        return replace(hit, snippet=text[:SNIPPET_CHARS])


def _vector_hits(
    stores: Stores, found: list[VectorHit]
) -> tuple[list[tuple[VectorHit, SearchHit]], _Snippets]:
    snippets = _Snippets(stores.semantic)
    if not found:
        return [], snippets
    marks = ",".join("?" * len(found))
    with stores.mirror.read() as conn:
        rows = conn.execute(
            "SELECT m.pk, m.id, m.session_id, m.role, m.content, m.metadata, m.created_at, "
            "s.title FROM messages AS m JOIN sessions AS s ON s.file_id = m.file_id "
            f"WHERE m.pk IN ({marks})",
            [v.pk for v in found],
        ).fetchall()
    by_pk = {int(r["pk"]): r for r in rows}
    out = []
    for v in found:
        row = by_pk.get(v.pk)
        if row is None:  # deleted since the vector search read the mirror
            continue
        hit = SearchHit(
            message_id=row["id"],
            session_id=row["session_id"],
            session_title=row["title"] or "",
            role=row["role"],
            created_at=row["created_at"],
            score=v.score,
            snippet="",
            found_by=("semantic",),
        )
        snippets.pending[(hit.session_id, hit.message_id)] = (
            row["content"],
            row["metadata"],
            v.chunk,
        )
        out.append((v, hit))
    return out, snippets


def _with(hit: SearchHit, *, score: float, found_by: tuple[str, ...]) -> SearchHit:
    return SearchHit(
        message_id=hit.message_id,
        session_id=hit.session_id,
        session_title=hit.session_title,
        role=hit.role,
        created_at=hit.created_at,
        score=score,
        snippet=hit.snippet,
        highlights=hit.highlights,
        found_by=found_by,
    )
