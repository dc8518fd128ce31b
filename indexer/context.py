"""Context within a token budget: what `get_context` returns (docs/retrieval.md).

1. Search (hybrid when semantic search is on and caught up, else keyword) for the best
   `CANDIDATES` messages passing the filters.
2. Each hit brings the turns around it, `NEIGHBOURS` on each side in its session (the
   question before an answer, the answer after a question); neighbours must pass the
   filters too. Every message gets a priority: a hit its rank, a neighbour its hit's rank
   plus `NEIGHBOUR_LAG` (the best of these when several hits bring it).
3. Fill the budget in priority order. A message is taken whole if it fits; a message that
   does not fit is shortened (cut between words, never inside one, and marked) when at
   least `MIN_SHORTENED` tokens are left, else left out. Smaller later messages may still
   fit. Each session costs its header (id, title, date) once.
4. Group what was taken by session, sessions and messages in time order; consecutive
   messages form a stretch (`stretches`: first and last offset), so overlapping or touching
   stretches are merged; each session is headed by its title and date. What was left out
   is listed as pointers (session id, message id, offset) for `get_messages`.

Token counts are estimates (indexer/tokens.py); `tokens` never exceeds `max_tokens`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from vault import InvalidInput
from vault.message_views import plain_text_json

from .records import parse_bound
from .retrieval import Stores, search
from .tokens import MESSAGE_OVERHEAD, cut_to_tokens, estimate_tokens

__all__ = ("Context", "ContextMessage", "ContextSession", "Pointer", "build_context")

CANDIDATES = 30
NEIGHBOURS = 1  # turns taken on each side of a hit
NEIGHBOUR_LAG = 20  # a neighbour's priority: its hit's rank plus this (measured, retrieval.md)
MAX_BUDGET = 1_000_000
ENVELOPE = 16  # the result's own fields
SESSION_OVERHEAD = 18  # a session's id, date and framing, plus its title
MIN_SHORTENED = 48
MARKER = "[… cut here: about {n} more tokens; get_messages reads the whole message]"


@dataclass(frozen=True)
class ContextMessage:
    message_id: str
    role: str
    created_at: str
    offset: int  # position in the session: get_messages(session, offset=…, limit=1)
    content: str
    tokens: int
    rank: int  # 1 = the most relevant hit; a neighbour has its hit's rank
    hit: bool = True  # found by the search (False: a turn around a hit)
    truncated: bool = False


@dataclass(frozen=True)
class ContextSession:
    session_id: str
    title: str
    date: str  # the session's creation time (canonical UTC)
    messages: tuple[ContextMessage, ...]

    @property
    def stretches(self) -> list[tuple[int, int]]:
        """Runs of consecutive offsets: (first, last)."""
        runs: list[tuple[int, int]] = []
        for m in self.messages:
            if runs and m.offset == runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], m.offset)
            else:
                runs.append((m.offset, m.offset))
        return runs


@dataclass(frozen=True)
class Pointer:
    """A relevant message left out: fetch it with get_messages(session, offset, limit=1)."""

    session_id: str
    message_id: str
    role: str
    created_at: str
    offset: int
    tokens: int
    rank: int


@dataclass(frozen=True)
class Context:
    query: str
    mode: str
    max_tokens: int
    tokens: int
    sessions: tuple[ContextSession, ...]
    omitted: tuple[Pointer, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "mode": self.mode,
            "max_tokens": self.max_tokens,
            "tokens": self.tokens,
            "sessions": [
                {
                    "session_id": s.session_id,
                    "title": s.title,
                    "date": s.date,
                    "stretches": [list(r) for r in s.stretches],
                    "messages": [asdict(m) for m in s.messages],
                }
                for s in self.sessions
            ],
            "omitted": [asdict(p) for p in self.omitted],
        }


@dataclass(frozen=True)
class _Msg:
    file_id: int
    session_id: str
    title: str
    date: str
    message_id: str
    role: str
    created_at: str
    position: int
    content: str


_SELECT = (
    "SELECT m.file_id, m.session_id, s.title, s.created_at AS date, m.id AS message_id, "
    "m.role, m.created_at, m.position, m.content, m.metadata "
    "FROM messages AS m JOIN sessions AS s ON s.file_id = m.file_id "
)


def build_context(
    stores: Stores,
    query: str,
    max_tokens: int,
    *,
    session_id: str | None = None,
    role: str | None = None,
    after: str | datetime | None = None,
    before: str | datetime | None = None,
    mode: str | None = None,
) -> Context:
    if (
        not isinstance(max_tokens, int)
        or isinstance(max_tokens, bool)
        or not 1 <= max_tokens <= MAX_BUDGET
    ):
        raise InvalidInput(f"'max_tokens' must be 1..{MAX_BUDGET}", field="max_tokens")
    low, high = parse_bound(after, "after"), parse_bound(before, "before")
    result = search(
        stores,
        query,
        session_id=session_id,
        role=role,
        after=low,
        before=high,
        limit=CANDIDATES,
        mode=mode,
    )
    keys = [(h.session_id, h.message_id) for h in result.hits]
    ranked = _with_neighbours(stores, keys, role, low, high)

    remaining = max_tokens - ENVELOPE
    taken: dict[str, list[ContextMessage]] = {}
    heads: dict[str, _Msg] = {}
    omitted: list[Pointer] = []
    for _, rank, hit, msg in ranked:
        header = 0 if msg.session_id in taken else _header_cost(msg)
        body = estimate_tokens(msg.content)
        cost = header + MESSAGE_OVERHEAD + body
        if cost <= remaining:
            kept = _kept(msg, msg.content, body, rank, hit=hit, truncated=False)
            remaining -= cost
        elif remaining - header - MESSAGE_OVERHEAD >= MIN_SHORTENED:
            room = remaining - header - MESSAGE_OVERHEAD
            marker = MARKER.format(n=body)
            text = cut_to_tokens(msg.content, room - estimate_tokens(marker) - 1)
            shortened = (text.rstrip() + "\n" + marker) if text.strip() else marker
            spent = estimate_tokens(shortened)
            if spent > room:  # estimates do not add up exactly: never overspend
                omitted.append(_pointer(msg, body, rank))
                continue
            kept = _kept(msg, shortened, spent, rank, hit=hit, truncated=True)
            remaining -= header + MESSAGE_OVERHEAD + spent
        else:
            if hit:  # a neighbour left out is not worth a pointer
                omitted.append(_pointer(msg, body, rank))
            continue
        taken.setdefault(msg.session_id, []).append(kept)
        heads.setdefault(msg.session_id, msg)
    sessions = [
        ContextSession(
            sid,
            heads[sid].title,
            heads[sid].date,
            tuple(sorted(msgs, key=lambda m: m.offset)),
        )
        for sid, msgs in taken.items()
    ]
    sessions.sort(key=lambda s: (s.date, s.messages[0].created_at, s.session_id))
    return Context(
        query=query,
        mode=result.mode,
        max_tokens=max_tokens,
        tokens=max_tokens - remaining,
        sessions=tuple(sessions),
        omitted=tuple(omitted),
    )


def _header_cost(msg: _Msg) -> int:
    return SESSION_OVERHEAD + estimate_tokens(msg.title)


def _kept(
    msg: _Msg, content: str, tokens: int, rank: int, *, hit: bool, truncated: bool
) -> ContextMessage:
    return ContextMessage(
        message_id=msg.message_id,
        role=msg.role,
        created_at=msg.created_at,
        offset=msg.position,
        content=content,
        tokens=tokens + MESSAGE_OVERHEAD,
        rank=rank,
        hit=hit,
        truncated=truncated,
    )


def _pointer(msg: _Msg, tokens: int, rank: int) -> Pointer:
    return Pointer(
        msg.session_id,
        msg.message_id,
        msg.role,
        msg.created_at,
        msg.position,
        tokens + MESSAGE_OVERHEAD,
        rank,
    )


def _with_neighbours(
    stores: Stores,
    keys: list[tuple[str, str]],
    role: str | None,
    low: str | None,
    high: str | None,
) -> list[tuple[int, int, bool, _Msg]]:
    """Every hit and the turns around it, each message once, in priority order:
    (priority, rank, is a hit, message). A message that is both a hit and a neighbour
    counts as a hit."""
    best: dict[tuple[int, int], tuple[int, int, bool, _Msg]] = {}

    def offer(msg: _Msg, priority: int, rank: int, hit: bool) -> None:
        ident = (msg.file_id, msg.position)
        known = best.get(ident)
        if known is None or (priority, not hit) < (known[0], not known[2]):
            best[ident] = (priority, rank, hit, msg)

    with stores.mirror.read() as conn:
        for rank, (session_id, message_id) in enumerate(keys, start=1):
            row = conn.execute(
                _SELECT + "WHERE m.session_id = ? AND m.id = ? ORDER BY m.file_id LIMIT 1",
                (session_id, message_id),
            ).fetchone()
            if row is None:  # deleted since the search
                continue
            hit = _msg(row)
            offer(hit, rank, rank, True)
            if NEIGHBOURS <= 0:
                continue
            around = conn.execute(
                _SELECT + "WHERE m.file_id = ? AND m.position BETWEEN ? AND ? "
                "AND m.position != ? ORDER BY m.position",
                (hit.file_id, hit.position - NEIGHBOURS, hit.position + NEIGHBOURS, hit.position),
            ).fetchall()
            for found in around:
                near = _msg(found)
                if _passes(near, role, low, high):
                    offer(near, rank + NEIGHBOUR_LAG, rank, False)
    return sorted(best.values(), key=lambda e: (e[0], not e[2], e[3].file_id, e[3].position))


def _passes(msg: _Msg, role: str | None, low: str | None, high: str | None) -> bool:
    return (
        (role is None or msg.role == role)
        and (low is None or msg.created_at > low)
        and (high is None or msg.created_at < high)
    )


def _msg(row: Any) -> _Msg:
    """A message as get_context shows it: its content with its thinking, tool calls and
    results, as `codearchitect show` prints them (a call alone is not an empty message)."""
    fields = {name: row[name] for name in _Msg.__dataclass_fields__}
    fields["content"] = plain_text_json(row["role"], row["content"], row["metadata"])
    return _Msg(**fields)
