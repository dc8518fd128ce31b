"""Context within a token budget: what `get_context` returns (docs/retrieval.md).

1. Search (hybrid when semantic search is on and caught up, else keyword) for the best
   `CANDIDATES` messages passing the filters.
2. Turn each hit into its conversation pair: a user message and the assistant message that
   directly follows it (seed 002's pairs); a hit without a partner stands alone. Partners
   must pass the filters too. Pairs are ranked by their best message's rank.
3. Fill the budget in rank order. A message is taken whole if it fits; a message that does
   not fit is shortened (cut between words, never inside one, and marked) when at least
   `MIN_SHORTENED` tokens are left, else left out. Smaller later pairs may still fit.
4. Group what was taken by session, sessions and messages in time order; list what was left
   out as pointers (session id, message id, offset) for `get_messages`.

Token counts are estimates (indexer/tokens.py); `tokens` never exceeds `max_tokens`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from vault import InvalidInput

from .records import parse_bound
from .retrieval import Stores, search
from .tokens import MESSAGE_OVERHEAD, cut_to_tokens, estimate_tokens

__all__ = ("Context", "ContextMessage", "ContextSession", "Pointer", "build_context")

CANDIDATES = 30
MAX_BUDGET = 1_000_000
ENVELOPE = 16  # the result's own fields
SESSION_OVERHEAD = 12  # a session's id and framing, plus its title
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
    rank: int  # 1 = the most relevant pair
    truncated: bool = False


@dataclass(frozen=True)
class ContextSession:
    session_id: str
    title: str
    messages: tuple[ContextMessage, ...]


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
    message_id: str
    role: str
    created_at: str
    position: int
    content: str


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
    pairs = _pairs(stores, [(h.session_id, h.message_id) for h in result.hits], role, low, high)

    remaining = max_tokens - ENVELOPE
    taken: dict[str, list[ContextMessage]] = {}
    titles: dict[str, str] = {}
    omitted: list[Pointer] = []
    for rank, pair in enumerate(pairs, start=1):
        for msg in pair:
            header = 0 if msg.session_id in taken else SESSION_OVERHEAD + estimate_tokens(msg.title)
            body = estimate_tokens(msg.content)
            cost = header + MESSAGE_OVERHEAD + body
            if cost <= remaining:
                kept = _kept(msg, msg.content, body, rank, truncated=False)
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
                kept = _kept(msg, shortened, spent, rank, truncated=True)
                remaining -= header + MESSAGE_OVERHEAD + spent
            else:
                omitted.append(_pointer(msg, body, rank))
                continue
            taken.setdefault(msg.session_id, []).append(kept)
            titles[msg.session_id] = msg.title
    sessions = [
        ContextSession(sid, titles[sid], tuple(sorted(msgs, key=lambda m: m.offset)))
        for sid, msgs in taken.items()
    ]
    sessions.sort(key=lambda s: (s.messages[0].created_at, s.session_id))
    return Context(
        query=query,
        mode=result.mode,
        max_tokens=max_tokens,
        tokens=max_tokens - remaining,
        sessions=tuple(sessions),
        omitted=tuple(omitted),
    )


def _kept(msg: _Msg, content: str, tokens: int, rank: int, *, truncated: bool) -> ContextMessage:
    return ContextMessage(
        message_id=msg.message_id,
        role=msg.role,
        created_at=msg.created_at,
        offset=msg.position,
        content=content,
        tokens=tokens + MESSAGE_OVERHEAD,
        rank=rank,
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


def _pairs(
    stores: Stores,
    keys: list[tuple[str, str]],
    role: str | None,
    low: str | None,
    high: str | None,
) -> list[tuple[_Msg, ...]]:
    """Each hit's conversation pair, ranked by first appearance, without repeats."""
    select = (
        "SELECT m.file_id, m.session_id, s.title, m.id AS message_id, m.role, m.created_at, "
        "m.position, m.content FROM messages AS m JOIN sessions AS s ON s.file_id = m.file_id "
    )
    seen: set[tuple[int, int]] = set()
    pairs: list[tuple[_Msg, ...]] = []
    with stores.mirror.read() as conn:
        for session_id, message_id in keys:
            row = conn.execute(
                select + "WHERE m.session_id = ? AND m.id = ? ORDER BY m.file_id LIMIT 1",
                (session_id, message_id),
            ).fetchone()
            if row is None:  # deleted since the search
                continue
            hit = _Msg(**dict(zip(row.keys(), row, strict=True)))
            other_pos = hit.position + 1 if hit.role == "user" else hit.position - 1
            partner = None
            if hit.role in ("user", "assistant") and role is None:
                found = conn.execute(
                    select + "WHERE m.file_id = ? AND m.position = ?", (hit.file_id, other_pos)
                ).fetchone()
                if found is not None:
                    cand = _Msg(**dict(zip(found.keys(), found, strict=True)))
                    wanted = "assistant" if hit.role == "user" else "user"
                    in_time = (low is None or cand.created_at > low) and (
                        high is None or cand.created_at < high
                    )
                    if cand.role == wanted and in_time:
                        partner = cand
            group = (hit,) if partner is None else tuple(sorted((hit, partner), key=_pos))
            ident = (hit.file_id, group[0].position)
            if ident in seen or (hit.file_id, hit.position) in seen:
                continue
            seen.update((m.file_id, m.position) for m in group)
            seen.add(ident)
            pairs.append(group)
    return pairs


def _pos(m: _Msg) -> int:
    return m.position
