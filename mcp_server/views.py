"""JSON shapes of indexer records as tools return them."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ("message_view", "pair_view", "session_view")


class _Record(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def session_view(record: _Record) -> dict[str, Any]:
    data = record.to_dict()
    data.pop("extra", None)
    return data


def message_view(record: _Record) -> dict[str, Any]:
    return record.to_dict()


def pair_view(pair: _Record) -> dict[str, Any]:
    return pair.to_dict()
