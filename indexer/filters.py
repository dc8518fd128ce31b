"""Checking search arguments and turning filters into tantivy queries (keyword search)
and a `MessageFilter` (semantic search), so both modes filter alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import tantivy

from vault import InvalidInput

from .records import parse_bound, to_datetime
from .schema import KEY_FIELDS
from .tool_filter import check_tool, tool_sql

__all__ = (
    "MAX_SEARCH_LIMIT",
    "MAX_SEARCH_OFFSET",
    "MessageFilter",
    "SearchFilters",
    "check_key",
    "check_page",
    "search_filters",
)

MAX_SEARCH_LIMIT = 1000
# A ranked search collects offset + limit hits before it can skip `offset` of them, so the
# offset is bounded (as Elasticsearch's max_result_window): deeper pages are refused.
MAX_SEARCH_OFFSET = 10_000


@dataclass(frozen=True)
class MessageFilter:
    """The filters of keyword search, as SQL on the mirror (bounds are canonical times)."""

    session_id: str | None = None
    role: str | None = None
    after: str | None = None
    before: str | None = None
    key_fields: Mapping[str, str] = field(default_factory=dict)
    tool: str | None = None  # folded by tool_filter.check_tool

    @property
    def empty(self) -> bool:
        return not (
            self.session_id
            or self.role
            or self.after
            or self.before
            or self.key_fields
            or self.tool is not None
        )

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value, op in (
            ("m.session_id", self.session_id, "="),
            ("m.role", self.role, "="),
            ("m.created_at", self.after, ">"),
            ("m.created_at", self.before, "<"),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        for name, value in self.key_fields.items():
            clauses.append(f"s.{name} = ?")  # names checked against KEY_FIELDS by the caller
            params.append(value)
        if self.tool is not None:
            sql, args = tool_sql("m", self.tool)
            clauses.append(sql)
            params += args
        return (" AND ".join(clauses) or "1"), params


@dataclass(frozen=True)
class SearchFilters:
    """One search's filters, for both modes."""

    queries: list[tantivy.Query]  # every one must match (keyword mode)
    messages: MessageFilter  # the same, for semantic search


def check_page(limit: object, offset: object) -> None:
    """`limit` 0..MAX_SEARCH_LIMIT and `offset` 0..MAX_SEARCH_OFFSET, as integers (not
    booleans)."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidInput(f"'limit' must be 0..{MAX_SEARCH_LIMIT}", field="limit")
    if (
        not isinstance(offset, int)
        or isinstance(offset, bool)
        or not 0 <= offset <= MAX_SEARCH_OFFSET
    ):
        raise InvalidInput(f"'offset' must be 0..{MAX_SEARCH_OFFSET}", field="offset")


def search_filters(
    schema: tantivy.Schema,
    session_id: str | None,
    role: str | None,
    after: str | datetime | None,
    before: str | datetime | None,
    key_fields: Mapping[str, str | None],
    tool: str | None = None,
) -> SearchFilters:
    """Check the filters (INVALID_INPUT names the bad one) and build both forms."""
    queries = []
    folded = check_tool(tool)
    if folded is not None:
        queries.append(tantivy.Query.term_query(schema, "tool", folded))
    for name, value in (("session_id", session_id), ("role", role), *key_fields.items()):
        if name not in ("session_id", "role", *KEY_FIELDS):
            raise InvalidInput(f"Unknown search filter '{name}'", field=name)
        if value is not None:
            queries.append(tantivy.Query.term_query(schema, name, value))
    low, high = parse_bound(after, "after"), parse_bound(before, "before")
    if low is not None or high is not None:
        queries.append(
            tantivy.Query.range_query(
                schema,
                "created",
                tantivy.FieldType.Date,
                to_datetime(low),
                to_datetime(high),
                include_lower=low is None,
                include_upper=high is None,
            )
        )
    picked = {k: v for k, v in key_fields.items() if v is not None}
    return SearchFilters(queries, MessageFilter(session_id, role, low, high, picked, folded))


def check_key(key: Mapping[str, str | None]) -> dict[str, str | None]:
    """The five key fields of seed 001, at least one set, each a non-empty string."""
    if not isinstance(key, Mapping):
        raise InvalidInput("'key' must be an object of the five key fields", field="key")
    unknown = set(key) - set(KEY_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown key field '{sorted(unknown)[0]}'", field="key")
    clean: dict[str, str | None] = {}
    for name in KEY_FIELDS:
        value = key.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidInput(f"'{name}' must be a non-empty string", field=name)
        clean[name] = value
    if all(v is None for v in clean.values()):
        raise InvalidInput("At least one key field is required", field="key")
    return clean
