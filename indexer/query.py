"""The search query language, parsed here so errors carry a position and punctuation
never breaks a query.

Syntax (docs/indexing.md)::

    auth token           both words (AND is implicit; the keyword AND is also accepted)
    "exact phrase"       the words next to each other, in order
    -draft  NOT draft    exclude messages with the word (a query of only exclusions
                         means "everything except")
    jwt OR oauth         either word; OR binds tighter than the implicit AND, so
                         `login jwt OR oauth` means login AND (jwt OR oauth)
    (a b) OR c           grouping
    auth*  "token ref"*  prefix: the last word is a prefix
    c++ foo-bar s-0001   punctuation inside a word is fine: the word is analysed like
                         the text (lower-cased, split on punctuation) and its parts must
                         appear next to each other

Words match the message text; a match of the same query on the session title only lifts
a message's rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import tantivy

from .errors import InvalidQuery

__all__ = ("MAX_QUERY_CHARS", "MAX_QUERY_DEPTH", "Compiled", "compile_query")

MAX_QUERY_CHARS = 2000
MAX_QUERY_DEPTH = 32  # nested parentheses; checked before parsing (the parser recurses)
TITLE_BOOST = 0.4
_SPECIAL = set('()"')


@dataclass(frozen=True)
class Compiled:
    """A parsed query: None when nothing searchable is left (e.g. only punctuation)."""

    query: tantivy.Query | None


@dataclass(frozen=True)
class _Tok:
    kind: str  # WORD PHRASE LPAR RPAR OR AND NOT
    text: str
    pos: int
    neg: bool = False
    prefix: bool = False


def compile_query(text: str, schema: tantivy.Schema, analyzer: tantivy.TextAnalyzer) -> Compiled:
    """Parse `text` into a tantivy query; `InvalidQuery` with a position on a syntax error."""
    if not isinstance(text, str):
        raise InvalidQuery(repr(text), 0, "the query must be text")
    if not text.strip():
        raise InvalidQuery(text, 0, "the query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQuery(text, MAX_QUERY_CHARS, f"longer than {MAX_QUERY_CHARS} characters")
    _check_depth(text)
    toks = _lex(text)
    content = _Parser(text, toks, schema, analyzer, "content").run()
    if content is None:
        return Compiled(None)
    title = _Parser(text, toks, schema, analyzer, "title").run()
    if title is None:
        return Compiled(content)
    boosted = tantivy.Query.boost_query(title, TITLE_BOOST)
    return Compiled(
        tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, content), (tantivy.Occur.Should, boosted)]
        )
    )


def _check_depth(text: str) -> None:
    """Refuse parentheses nested deeper than MAX_QUERY_DEPTH (outside quotes), before any
    recursive parsing can run out of stack."""
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


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        neg = False
        start = i
        if ch == "-" and i + 1 < n and not text[i + 1].isspace() and text[i + 1] != ")":
            neg = True
            i += 1
            ch = text[i]
        if ch == "(":
            if neg:
                toks.append(_Tok("NOT", "-", start))
            toks.append(_Tok("LPAR", ch, i))
            i += 1
        elif ch == ")":
            toks.append(_Tok("RPAR", ch, i))
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise InvalidQuery(text, i, "unclosed quote")
            prefix = end + 1 < n and text[end + 1] == "*"
            toks.append(_Tok("PHRASE", text[i + 1 : end], start, neg, prefix))
            i = end + 1 + int(prefix)
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            word = text[i:j]
            if not neg and word in ("OR", "AND", "NOT"):
                toks.append(_Tok(word, word, start))
            else:
                prefix = len(word) > 1 and word.endswith("*")
                toks.append(_Tok("WORD", word[:-1] if prefix else word, start, neg, prefix))
            i = j
    return toks


class _Parser:
    def __init__(
        self,
        text: str,
        toks: list[_Tok],
        schema: tantivy.Schema,
        analyzer: tantivy.TextAnalyzer,
        field: str,
    ) -> None:
        self.field = field
        self.text = text
        self.toks = toks
        self.i = 0
        self.schema = schema
        self.analyzer = analyzer

    def run(self) -> tantivy.Query | None:
        query = self._and(top=True)
        if self.i < len(self.toks):  # pragma: no cover - _and consumes until ')' or end
            raise self._error(self.toks[self.i].pos, "unexpected text")
        return query

    def _error(self, pos: int, reason: str) -> InvalidQuery:
        return InvalidQuery(self.text, pos, reason)

    def _peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _and(self, *, top: bool) -> tantivy.Query | None:
        must: list[tantivy.Query] = []
        must_not: list[tantivy.Query] = []
        seen = 0
        while True:
            tok = self._peek()
            if tok is None:
                break
            if tok.kind == "RPAR":
                if top:
                    raise self._error(tok.pos, "unmatched ')'")
                break
            if tok.kind == "AND":
                if seen == 0 or self._next_ends():
                    raise self._error(tok.pos, "AND needs a term on each side")
                self.i += 1
                continue
            negated, query = self._or()
            seen += 1
            if query is None:
                continue
            (must_not if negated else must).append(query)
        if not top and seen == 0:
            pos = self.toks[self.i - 1].pos if self.i else 0
            raise self._error(pos, "empty parentheses")
        return _combine(must, must_not)

    def _next_ends(self) -> bool:
        nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
        return nxt is None or nxt.kind in ("RPAR", "OR", "AND")

    def _or(self) -> tuple[bool, tantivy.Query | None]:
        negated, first = self._unary()
        parts = [(negated, first)]
        while (tok := self._peek()) is not None and tok.kind == "OR":
            if self._next_ends():
                raise self._error(tok.pos, "OR needs a term on each side")
            self.i += 1
            parts.append(self._unary())
        if len(parts) == 1:
            return parts[0]
        should: list[tantivy.Query] = []
        for neg, query in parts:
            if query is None:
                continue
            part = _combine([], [query]) if neg else query
            if part is not None:
                should.append(part)
        if not should:
            return False, None
        return False, tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in should])

    def _unary(self) -> tuple[bool, tantivy.Query | None]:
        tok = self._peek()
        if tok is None:  # pragma: no cover - callers check first
            raise self._error(len(self.text), "a term is missing")
        if tok.kind == "NOT":
            self.i += 1
            nxt = self._peek()
            if nxt is None or nxt.kind in ("RPAR", "OR", "AND", "NOT"):
                raise self._error(tok.pos, "NOT needs a term after it")
            negated, query = self._unary()
            return not negated, query
        if tok.kind in ("OR", "AND"):
            raise self._error(tok.pos, f"{tok.kind} needs a term on each side")
        if tok.kind == "RPAR":  # pragma: no cover - _and stops at ')'
            raise self._error(tok.pos, "unmatched ')'")
        self.i += 1
        if tok.kind == "LPAR":
            inner = self._and(top=False)
            close = self._peek()
            if close is None or close.kind != "RPAR":
                raise self._error(tok.pos, "unclosed '('")
            self.i += 1
            return False, inner
        return tok.neg, self._words(tok.text, prefix=tok.prefix)

    def _words(self, text: str, *, prefix: bool) -> tantivy.Query | None:
        tokens = self.analyzer.analyze(text)
        if not tokens:
            return None
        if prefix:
            # Not phrase_prefix_query: it expands the prefix to at most 50 distinct words.
            words: list[str | tuple[int, str]] = [_literal(t) for t in tokens[:-1]]
            last = _literal(tokens[-1]) + ".*"
            if not words:
                return tantivy.Query.regex_query(self.schema, self.field, last)
            return tantivy.Query.regex_phrase_query(self.schema, self.field, [*words, last])
        if len(tokens) == 1:
            return tantivy.Query.term_query(self.schema, self.field, tokens[0])
        return tantivy.Query.phrase_query(self.schema, self.field, list(tokens))


def _literal(token: str) -> str:
    """A regex matching exactly `token` (analysed tokens are letters and digits; anything
    else is escaped all the same)."""
    return "".join(c if c.isalnum() else f"\\x{{{ord(c):x}}}" for c in token)


def _combine(must: list[tantivy.Query], must_not: list[tantivy.Query]) -> tantivy.Query | None:
    if not must and not must_not:
        return None
    if len(must) == 1 and not must_not:
        return must[0]
    if not must:
        must = [tantivy.Query.all_query()]
    clauses = [(tantivy.Occur.Must, q) for q in must]
    clauses += [(tantivy.Occur.MustNot, q) for q in must_not]
    return tantivy.Query.boolean_query(clauses)
