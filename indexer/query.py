"""The search query language (keyword mode): natural questions ranked, explicit syntax kept.

Syntax (docs/indexing.md)::

    when did we rotate the keys   plain words are ranked, not required: BM25 over the
                                  words (English stop words ignored), exact and stemmed,
                                  messages holding more of them first, adjacent query
                                  words found together lifted, a session title or topic
                                  holding them lifts that session's messages
    "exact phrase"                the words next to each other, in order (required;
                                  when no message holds it, its words are ranked instead)
    +word  +"a phrase"  +(a b)    required, as written (no stemming)
    -draft  NOT draft             excluded (as written); only exclusions = everything except
    jwt OR oauth                  either (one ranked unit)
    a AND b                       both required
    (a b) OR c                    grouping
    auth*  "token ref"*           prefix: the last word is a prefix
    c++ foo-bar s-0001            punctuation inside a word is fine: the word is analysed
                                  like the text and its parts must be adjacent

Nothing typed is a syntax error: an unbalanced quote, a stray `)`, `-`, `+`, or an
operator with nothing on one side is read as plain text (punctuation, or the stop words
"or"/"and"/"not"). `InvalidQuery` only for a query that cannot mean anything: empty,
not text, too long, or nested too deep.

`natural_query` is the same language for callers that never want an error (the keyword
side of hybrid search): None when nothing searchable is left.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import tantivy

from .errors import InvalidQuery
from .schema import stem_analyzer
from .stopwords import STOP_WORDS

__all__ = (
    "MAX_QUERY_CHARS",
    "MAX_QUERY_DEPTH",
    "RANKING",
    "Compiled",
    "Ranking",
    "compile_query",
    "natural_query",
    "stem_word",
)

MAX_QUERY_CHARS = 2000
MAX_QUERY_DEPTH = 32  # nested parentheses; checked before parsing (the parser recurses)
MAX_RANKED_WORDS = 64  # plain words kept per group (the first ones)
_SPECIAL = set('()"')

Occur = Literal["should", "must", "not"]


@dataclass(frozen=True)
class Ranking:
    """The weights of the ranking rule (docs/indexing.md: chosen by measurement on
    bench/locomo.py and the ShareGPT/oasst tasks of bench/retrieval.py)."""

    stem: float = 1.0  # a stemmed match, added to the exact one (so exact ranks first)
    heading: float = 0.2  # the word in the session's title or topic
    phrase: float = 2.0  # a quoted phrase found as written
    pair: float = 1.0  # two adjacent query words found together (within `slop`)
    slop: int = 2
    coord_share: float = 0.5  # messages holding at least this share of the words (and 2)
    coord_bonus: float = 3.0  # ... get this added to their score (0: plain BM25 sum)


RANKING = Ranking()


@dataclass(frozen=True)
class Compiled:
    """A parsed query: None when nothing searchable is left (only stop words, say).
    `relaxed`: the same with its quoted phrases ranked instead of required, to run when
    `query` finds nothing (None when it has no quoted phrase)."""

    query: tantivy.Query | None
    relaxed: tantivy.Query | None = None


def compile_query(
    text: str,
    schema: tantivy.Schema,
    analyzer: tantivy.TextAnalyzer,
    ranking: Ranking | None = None,
    known: Callable[[str], bool] | None = None,
) -> Compiled:
    """Parse `text` into a tantivy query; `InvalidQuery` only when it cannot mean anything.

    `known` (`FullText.vocabulary`): whether a word occurs in the index at all; the other
    forms of a word that do not are left out of the query (they could not match)."""
    if not isinstance(text, str):
        raise InvalidQuery(repr(text), 0, "the query must be text")
    if not text.strip():
        raise InvalidQuery(text, 0, "the query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQuery(text, MAX_QUERY_CHARS, f"longer than {MAX_QUERY_CHARS} characters")
    _check_depth(text)
    group = _Parser(_lex(text)).run()
    builder = _Builder(schema, analyzer, ranking or RANKING, known)
    query = builder.group(group)
    if not _has_quotes(group):
        return Compiled(query)
    builder.soft_phrases = True
    return Compiled(query, builder.group(group))


def _has_quotes(group: _Group) -> bool:
    """Does the group hold a quoted phrase that is neither required nor excluded?"""
    for clause in group.clauses:
        node = clause.node
        if isinstance(node, _Phrase) and clause.occur == "should" and not node.prefix:
            return True
        inner = node.clauses if isinstance(node, _Group) else ()
        if isinstance(node, _Or):
            inner = node.parts
        if inner and _has_quotes(_Group(tuple(inner))):
            return True
    return False


def natural_query(
    text: str,
    schema: tantivy.Schema,
    analyzer: tantivy.TextAnalyzer,
    ranking: Ranking | None = None,
    known: Callable[[str], bool] | None = None,
) -> tantivy.Query | None:
    """`compile_query` that never raises: None for an empty, over-long or over-nested query
    or one with nothing searchable (for the keyword side of hybrid search). Quoted phrases
    are ranked, not required (`Compiled.relaxed`): candidates should not hang on them."""
    try:
        compiled = compile_query(text, schema, analyzer, ranking, known)
    except InvalidQuery:
        return None
    return compiled.relaxed if compiled.relaxed is not None else compiled.query


def _check_depth(text: str) -> None:
    """Refuse parentheses nested deeper than MAX_QUERY_DEPTH (outside quotes), before any
    recursive parsing can run out of stack."""
    if "(" not in text:
        return
    depth = 0
    quoted = False
    for pos, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == "(" and not quoted:
            depth += 1
            if depth > MAX_QUERY_DEPTH:
                raise InvalidQuery(
                    text, pos, f"parentheses nested deeper than {MAX_QUERY_DEPTH} levels"
                )
        elif ch == ")" and not quoted:
            depth = max(depth - 1, 0)


# ---------------------------------------------------------------------- lexing


@dataclass(frozen=True)
class _Tok:
    kind: str  # WORD PHRASE LPAR RPAR OR AND NOT
    text: str
    sign: str = ""  # "-" excluded, "+" required
    prefix: bool = False


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        sign = ""
        if ch in "-+":
            if i + 1 >= n or text[i + 1].isspace() or text[i + 1] in "-+)":
                i += 1  # a lone sign is punctuation
                continue
            sign, i = ch, i + 1
            ch = text[i]
        if ch == "(":
            toks.append(_Tok("LPAR", ch, sign))
            i += 1
        elif ch == ")":
            toks.append(_Tok("RPAR", ch))
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:  # an unbalanced quote is punctuation
                i += 1
                continue
            prefix = end + 1 < n and text[end + 1] == "*"
            toks.append(_Tok("PHRASE", text[i + 1 : end], sign, prefix))
            i = end + 1 + int(prefix)
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            word = text[i:j]
            if not sign and word in ("OR", "AND", "NOT"):
                toks.append(_Tok(word, word))
            else:
                prefix = len(word) > 1 and word.endswith("*")
                toks.append(_Tok("WORD", word[:-1] if prefix else word, sign, prefix))
            i = j
    return toks


# ---------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Word:
    text: str
    prefix: bool


@dataclass(frozen=True)
class _Phrase:
    text: str
    prefix: bool


@dataclass(frozen=True)
class _Or:
    parts: tuple[_Clause, ...]


@dataclass(frozen=True)
class _Group:
    clauses: tuple[_Clause, ...]


_Node = _Word | _Phrase | _Or | _Group


@dataclass(frozen=True)
class _Clause:
    occur: Occur
    node: _Node


class _Parser:
    """Recursive descent that never fails: what cannot be an operator is plain text."""

    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0

    def run(self) -> _Group:
        clauses: list[_Clause] = []
        while self.i < len(self.toks):
            clauses += self._group(top=True).clauses
            self.i += 1  # only a stray ')' stops a top-level group: skip it
        return _Group(tuple(clauses))

    def _peek(self, ahead: int = 0) -> _Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def _group(self, *, top: bool) -> _Group:
        clauses: list[_Clause] = []
        joined = False  # the previous clause was followed by AND
        while (tok := self._peek()) is not None and tok.kind != "RPAR":
            if tok.kind == "AND":
                self.i += 1
                if clauses and self._starts_term():
                    joined = True
                    clauses[-1] = _required(clauses[-1])
                continue
            clause = self._or()
            if clause is None:
                continue
            clauses.append(_required(clause) if joined else clause)
            joined = False
        if not top and self._peek() is not None:
            self.i += 1  # the closing ')'
        return _Group(tuple(clauses))

    def _starts_term(self) -> bool:
        nxt = self._peek()
        return nxt is not None and nxt.kind in ("WORD", "PHRASE", "LPAR", "NOT")

    def _or(self) -> _Clause | None:
        first = self._unary()
        parts = [first] if first is not None else []
        while (tok := self._peek()) is not None and tok.kind == "OR":
            self.i += 1
            if not parts or not self._starts_term():
                continue  # a dangling OR: the stop word "or"
            nxt = self._unary()
            if nxt is not None:
                parts.append(nxt)
        if len(parts) <= 1:
            return parts[0] if parts else None
        return _Clause("should", _Or(tuple(parts)))

    def _unary(self) -> _Clause | None:
        tok = self._peek()
        if tok is None or tok.kind in ("RPAR", "OR", "AND"):
            return None
        self.i += 1
        if tok.kind == "NOT":
            if not self._starts_term():
                return None  # a dangling NOT: the stop word "not"
            inner = self._unary()
            if inner is None:
                return None
            return _Clause("should" if inner.occur == "not" else "not", inner.node)
        occur: Occur = "not" if tok.sign == "-" else "must" if tok.sign == "+" else "should"
        if tok.kind == "LPAR":
            return _Clause(occur, self._group(top=False))
        if tok.kind == "PHRASE":
            return _Clause(occur, _Phrase(tok.text, tok.prefix))
        return _Clause(occur, _Word(tok.text, tok.prefix))


def _required(clause: _Clause) -> _Clause:
    return _Clause("must", clause.node) if clause.occur == "should" else clause


# ---------------------------------------------------------------------- building


_STEM = stem_analyzer()


@dataclass(frozen=True)
class _Ranked:
    """A ranked clause; `text` matches the same in the message text alone (for the
    coordination rule); `word` when it is one plain word (for adjacency)."""

    query: tantivy.Query
    text: tantivy.Query
    word: str | None = None


def _should(parts: list[tuple[float, tantivy.Query]]) -> tantivy.Query:
    if len(parts) == 1 and parts[0][0] == 1.0:
        return parts[0][1]
    return tantivy.Query.boolean_query(
        [
            (tantivy.Occur.Should, q if w == 1.0 else tantivy.Query.boost_query(q, w))
            for w, q in parts
        ]
    )


# Endings that, put on a stem (Snowball English), make the other forms of a word: the
# candidates are kept when they stem back to the same stem (indexer/query.py:stem_forms).
_ENDINGS = (
    "", "e", "s", "es", "ed", "d", "ing", "er", "ers", "or", "ors", "ion", "ions", "ation",
    "ations", "ly", "y", "ies", "ied", "ment", "ments", "ness", "ity", "ities", "al", "ally",
    "ive", "able", "ible", "ize", "izes", "ized", "izing", "ization", "ise", "ises", "ised",
    "ising", "isation", "ful", "ence", "ance", "ent", "ant", "ism", "ist", "ists", "ic",
    "ical", "ous", "ship", "age", "ages", "ery", "ee", "ees", "est",
)  # fmt: skip
_DOUBLED = ("ing", "ed", "er", "ers", "y", "est")


@functools.lru_cache(maxsize=8192)
def stem_forms(token: str) -> tuple[str, ...]:
    """The other forms of `token` that share its Snowball stem, as the index may hold them
    (`rotation` -> `rotate`, `rotated`, `rotates`, `rotating`, `rotations`...): made from
    the stem and common English endings and kept when they stem back to it. Searching
    these exact forms is query-time stemming: the text is not indexed a second time."""
    stem = stem_word(token)
    bases = {stem, token}
    if stem.endswith("i"):
        bases.add(stem[:-1] + "y")  # studi -> study, studies
    found = {b + e for b in bases for e in _ENDINGS}
    if len(stem) >= 3 and stem[-1] not in "aeiouwxy" and stem[-2] in "aeiou":
        found.update(stem + stem[-1] + e for e in _DOUBLED)  # run -> running
    found.discard(token)
    return tuple(sorted(f for f in found if len(f) <= 40 and stem_word(f) == stem))


@functools.lru_cache(maxsize=1 << 14)
def stem_word(token: str) -> str:
    """A word's English (Snowball) stem, as the `heading` field's analyser makes it; the
    word itself when the analyser drops it."""
    analysed = _STEM.analyze(token)
    return analysed[0] if analysed else token


class _Builder:
    def __init__(
        self,
        schema: tantivy.Schema,
        analyzer: tantivy.TextAnalyzer,
        ranking: Ranking,
        known: Callable[[str], bool] | None,
    ) -> None:
        self.schema = schema
        self.analyzer = analyzer
        self.r = ranking
        self.known = known
        self.soft_phrases = False  # quoted phrases ranked, not required (Compiled.relaxed)

    def group(self, group: _Group) -> tantivy.Query | None:
        must: list[tantivy.Query] = []
        must_not: list[tantivy.Query] = []
        ranked: list[_Ranked] = []
        bonus: list[tantivy.Query] = []
        for clause in group.clauses:
            node = clause.node
            if (
                clause.occur == "should"
                and isinstance(node, _Phrase)
                and not node.prefix
                and self.soft_phrases
            ):
                # A quoted phrase ranks its words like plain ones, and the phrase itself
                # (as written) higher; `+"..."` requires it.
                exact = self.words(node.text, prefix=False, field="content")
                before = len(ranked)
                for token in self.analyzer.analyze(node.text):
                    self.add_ranked(_Word(token, False), ranked)
                if exact is not None and len(ranked) == before:
                    ranked.append(_Ranked(exact, exact))  # only stop words: the phrase is it
                elif exact is not None and self.r.phrase > 0:
                    bonus.append(tantivy.Query.boost_query(exact, self.r.phrase))
                continue
            if clause.occur == "should" and isinstance(node, _Word):
                self.add_ranked(node, ranked)
                continue
            occur = clause.occur
            if occur == "should" and isinstance(node, _Phrase):
                occur = "must"  # a quoted phrase is required (Compiled.relaxed ranks it)
            query = self.node(clause.node, strict=occur != "should")
            if query is None:
                continue
            if occur == "must":
                must.append(query)
            elif occur == "not":
                must_not.append(query)
            else:
                ranked.append(_Ranked(query, query))
        if not must and not ranked:
            if not must_not:
                return None
            must = [tantivy.Query.all_query()]
        if len(must) == 1 and not ranked and not must_not:
            return must[0]
        clauses = [(tantivy.Occur.Must, q) for q in must]
        clauses += [(tantivy.Occur.MustNot, q) for q in must_not]
        clauses += [(tantivy.Occur.Should, r.query) for r in ranked]
        clauses += [(tantivy.Occur.Should, q) for q in bonus + self.bonuses(ranked)]
        if not must and self.r.stem <= 0 and len(clauses) > len(ranked) + len(must_not):
            # A stemmed pair could match where no ranked clause does: a message must hold a
            # ranked word. (With stemmed words ranked, every pair match is a word match.)
            words = tantivy.Query.boolean_query([(tantivy.Occur.Should, r.query) for r in ranked])
            clauses.append((tantivy.Occur.Must, tantivy.Query.const_score_query(words, 0.0)))
        return tantivy.Query.boolean_query(clauses)

    def add_ranked(self, word: _Word, ranked: list[_Ranked]) -> None:
        if len(ranked) < MAX_RANKED_WORDS:
            found = self.ranked_word(word)
            if found is not None:
                ranked.append(found)

    def bonuses(self, ranked: list[_Ranked]) -> list[tantivy.Query]:
        """Adjacent query words found together; messages whose text holds most of the
        words (a title holding them lifts less: it is not counted here)."""
        out: list[tantivy.Query] = []
        if self.r.pair > 0:
            for a, b in itertools.pairwise(ranked):
                if a.word is not None and b.word is not None and a.word != b.word:
                    pair = tantivy.Query.phrase_query(
                        self.schema, "content", [a.word, b.word], slop=self.r.slop
                    )
                    out.append(tantivy.Query.boost_query(pair, self.r.pair))
        if self.r.coord_bonus > 0 and len(ranked) >= 2:
            need = max(2, round(self.r.coord_share * len(ranked)))
            most = tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, r.text) for r in ranked], need
            )
            out.append(tantivy.Query.const_score_query(most, self.r.coord_bonus))
        return out

    def ranked_word(self, word: _Word) -> _Ranked | None:
        """A plain word: as written and in the other forms sharing its stem in the text,
        stemmed in the heading; None for a stop word."""
        if word.prefix:
            query = self.words(word.text, prefix=True, field="content")
            return None if query is None else _Ranked(query, query)
        tokens = self.analyzer.analyze(word.text)
        if not tokens or all(t in STOP_WORDS for t in tokens):
            return None
        exact = self.terms("content", tokens)
        text: list[tuple[float, tantivy.Query]] = [(1.0, exact)]
        # every form sharing the stem, this one too: a message holding the word as
        # written scores twice (as written, and as a form of the stem), so it ranks first
        forms: tuple[str, ...] = ()
        if len(tokens) == 1 and self.r.stem > 0:
            others = stem_forms(tokens[0])
            if self.known is not None:
                others = tuple(f for f in others if self.known(f))
            forms = (*others, tokens[0])
        if forms:
            stemmed = tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, self.terms("content", [f])) for f in forms]
            )
            text.append((self.r.stem, stemmed))
        stems = [s for t in tokens for s in _STEM.analyze(t)[:1]]
        parts = [*text, (self.r.heading, self.terms("heading", stems))]
        query = _should([(w, q) for w, q in parts if w > 0])
        return _Ranked(query, _should(text), tokens[0] if len(tokens) == 1 else None)

    def terms(self, field: str, tokens: list[str]) -> tantivy.Query:
        if len(tokens) == 1:
            return tantivy.Query.term_query(self.schema, field, tokens[0])
        return tantivy.Query.phrase_query(self.schema, field, list(tokens))

    def node(self, node: _Node, *, strict: bool) -> tantivy.Query | None:
        if isinstance(node, _Group):
            return self.group(node)
        if isinstance(node, _Or):
            parts = []
            for clause in node.parts:
                if clause.occur == "not":
                    query = self.node(clause.node, strict=True)
                    if query is not None:
                        query = tantivy.Query.boolean_query(
                            [
                                (tantivy.Occur.Must, tantivy.Query.all_query()),
                                (tantivy.Occur.MustNot, query),
                            ]
                        )
                elif isinstance(clause.node, _Word) and clause.occur == "should" and not strict:
                    found = self.ranked_word(clause.node)
                    query = None if found is None else found.query
                else:
                    query = self.node(clause.node, strict=True)
                if query is not None:
                    parts.append(query)
            if not parts:
                return None
            if len(parts) == 1:
                return parts[0]
            return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in parts])
        if isinstance(node, _Word) and not strict:
            found = self.ranked_word(node)
            return None if found is None else found.query
        return self.words(node.text, prefix=node.prefix, field="content")

    def words(self, text: str, *, prefix: bool, field: str) -> tantivy.Query | None:
        """The text's words as written, next to each other; the last one a prefix."""
        tokens = self.analyzer.analyze(text)
        if not tokens:
            return None
        if prefix:
            # Not phrase_prefix_query: it expands the prefix to at most 50 distinct words.
            words: list[str | tuple[int, str]] = [_literal(t) for t in tokens[:-1]]
            last = _literal(tokens[-1]) + ".*"
            if not words:
                return tantivy.Query.regex_query(self.schema, field, last)
            return tantivy.Query.regex_phrase_query(self.schema, field, [*words, last])
        return self.terms(field, tokens)


def _literal(token: str) -> str:
    """A regex matching exactly `token` (analysed tokens are letters and digits; anything
    else is escaped all the same)."""
    return "".join(c if c.isalnum() else f"\\x{{{ord(c):x}}}" for c in token)
