"""Context within a token budget: what `get_context` returns (docs/retrieval.md).

1. Search (hybrid when semantic search is on and caught up, else keyword) for the best
   messages passing the filters: one per `TOKENS_PER_CANDIDATE` tokens of budget, within
   `CANDIDATES` (a larger budget holds more hits).
2. Each hit brings the turns around it, `NEIGHBOURS` on each side in its session (the
   question before an answer, the answer after a question); neighbours must pass the
   filters too. Every message gets a priority: a hit its rank, a neighbour its hit's rank
   plus `NEIGHBOUR_LAG` (the best of these when several hits bring it).
3. Fill the budget in priority order. The budget pays for the whole result as the tool
   sends it (`render`: a transcript, the tool's only text), piece by piece
   (indexer/context_cost.py): the envelope once, a session's header line (id, date,
   title) once, each message's entry (offset, role, `near`/date where they apply,
   content); our layout at its measured real cost, what a user wrote (contents, titles,
   session ids) at the conservative estimate. A
   message is taken whole if it fits in the room left and in a `MAX_SHARE`th of the budget;
   one that does not is shortened (cut between words, never inside one, and marked) when
   at least `MIN_SHORTENED` tokens of its text fit, else left out. Smaller later messages
   may still fit. Then the room left lengthens the messages cut, best first (whole if it
   pays for them): one long tool result no longer fills the budget alone while other hits
   wait, and a lone long hit still gets the whole budget.
4. Group what was taken by session, sessions and messages in time order. The hits left out
   are counted in `omitted`, and the best `POINTERS` of them are listed as
   `[session_id, offset]` for `get_messages` when the room left pays for them.
5. Check the whole: `tokens` is `result_cost` of the result (its own digits included);
   while it exceeds `max_tokens`, the lowest priority piece is dropped: a pointer, else the
   last message taken.

Token counts are estimates (indexer/context_cost.py, indexer/tokens.py); `tokens` never
exceeds `max_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from vault import InvalidInput
from vault.message_views import plain_text_json

from .context_cost import (
    BEST,
    entry_cost,
    envelope_cost,
    header_cost,
    one_line,
    pointer_cost,
    result_cost,
    text_cost,
)
from .excerpt import focus, query_stems
from .records import parse_bound
from .retrieval import Stores, search
from .tokens import FAR_CHARS_PER_TOKEN, cut_to_tokens, estimate_tokens

__all__ = (
    "Context",
    "ContextMessage",
    "ContextSession",
    "Pointer",
    "build_context",
    "entry_text",
    "head_text",
    "header_text",
    "pointer_text",
    "render",
    "tail_text",
)

CANDIDATES = (30, 150)  # hits searched for: one per 40 tokens of budget, within these bounds
TOKENS_PER_CANDIDATE = 40
NEIGHBOURS = 1  # turns taken on each side of a hit
NEIGHBOUR_LAG = 20  # a neighbour's priority: its hit's rank plus this (measured, retrieval.md)
MIN_BUDGET = 100  # the result's own fields take ~30 (the tool's minimum too)
MAX_BUDGET = 1_000_000
POINTERS = 3  # the most omitted hits listed as [session_id, offset]
MIN_SHORTENED = 48
SHORTEN_TRIES = 6
MAX_SHARE = 4  # at first, no message takes more than a quarter of the budget
MARKER = "[… cut here: about {n} more tokens; get_messages reads the whole message]"
HEAD = "[… about {n} tokens before this; get_messages reads the whole message]"
MARKER_LEAST = estimate_tokens(MARKER.format(n=0))  # a marker costs at least this


@dataclass(frozen=True)
class ContextMessage:
    offset: int  # position in the session: get_messages(session, offset=…, limit=1)
    role: str
    content: str
    hit: bool = True  # found by the search (False: a turn around a hit)
    cut: bool = False  # shortened: the content ends with MARKER
    day_differs: bool = False  # sent on another day than its session's date: shows `date`
    # Not in the result (the tool's JSON): for callers in Python.
    message_id: str = ""
    created_at: str = ""
    rank: int = 0  # 1 = the most relevant hit; a neighbour has its hit's rank

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"offset": self.offset, "role": self.role}
        if self.day_differs:
            data["date"] = minute(self.created_at)
        data["content"] = self.content
        if not self.hit:
            data["near"] = True
        if self.cut:
            data["cut"] = True
        return data


@dataclass(frozen=True)
class ContextSession:
    session_id: str
    title: str
    date: str  # the session's creation time (canonical UTC)
    messages: tuple[ContextMessage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "title": self.title,
            "date": minute(self.date),
            "messages": [m.to_dict() for m in self.messages],
        }


@dataclass(frozen=True)
class Pointer:
    """A hit left out: fetch it with get_messages(session, offset, limit=1)."""

    session_id: str
    offset: int
    message_id: str
    rank: int


@dataclass(frozen=True)
class Context:
    mode: str
    max_tokens: int
    tokens: int  # result_cost of `self.to_dict()`: what `render(self)` costs
    sessions: tuple[ContextSession, ...]
    omitted: tuple[Pointer, ...]  # every hit left out, best first
    pointers: int = 0  # how many of `omitted` the result lists

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "tokens": self.tokens,
            "sessions": [s.to_dict() for s in self.sessions],
            "omitted": {
                "count": len(self.omitted),
                "best": [[p.session_id, p.offset] for p in self.omitted[: self.pointers]],
            },
        }


def minute(moment: str) -> str:
    """A canonical UTC time (`2023-05-08T13:56:00.000Z`) to the minute, as get_context
    shows dates (`2023-05-08T13:56Z`: ISO 8601, 4 tokens cheaper; enough to say when)."""
    if len(moment) == 24 and moment[16] == ":" and moment.endswith("Z"):
        return moment[:16] + "Z"
    return moment


def render(context: Context) -> str:
    """The result as the tool sends it: a transcript, the text the budget pays for (the
    tool sends nothing else; indexer/context_cost.py prices it piece by piece):

        mode: hybrid · tokens: 1874
        ## session ops-1 · 2025-01-15T14:02Z · nginx
        [0] user: the nginx proxy keeps timing out
        [1] assistant, near: Raise proxy_read_timeout …
        omitted: 4 · best: ops-7 [5], ops-9 [2]

    A message's content follows its `[offset] role:` as written, lines and all (nothing
    is escaped); `near` marks a turn around a hit, a date one sent on another day than its
    session's. The pieces, in order: `head_text`, then per session `header_text` and each
    message's `entry_text`, then `tail_text` (its pointers by `pointer_text`)."""
    data = context.to_dict()
    return (
        head_text(data)
        + "".join(
            header_text(s) + "".join(entry_text(m) for m in s["messages"]) for s in data["sessions"]
        )
        + tail_text(data["omitted"])
    )


SEP = " · "


def head_text(data: dict[str, Any]) -> str:
    """The first line: the search that found the messages and what the whole result costs."""
    return f"mode: {data['mode']}{SEP}tokens: {data['tokens']}"


def header_text(session: dict[str, Any]) -> str:
    """A session's line: `\n## session ID · DATE · TITLE` (a title on one line)."""
    title = one_line(session["title"])
    return f"\n## session {session['session_id']}{SEP}{session['date']}{SEP}{title}"


def entry_text(message: dict[str, Any]) -> str:
    """A message: `\n[OFFSET] ROLE[, DATE][, near]: CONTENT` (a cut ends with its marker)."""
    tags = f", {message['date']}" if "date" in message else ""
    if message.get("near"):
        tags += ", near"
    return f"\n[{message['offset']}] {message['role']}{tags}: {message['content']}"


def tail_text(omitted: dict[str, Any]) -> str:
    """The last line: how many hits were left out, and the best few to read next."""
    best = ",".join(pointer_text(p) for p in omitted["best"])
    return f"\nomitted: {omitted['count']}" + (f"{SEP}best:{best}" if best else "")


def pointer_text(pointer: list[Any]) -> str:
    """` SESSION_ID [OFFSET]`: get_messages {"session": …, "offset": …} reads it."""
    session_id, offset = pointer
    return f" {session_id} [{offset}]"


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
        or not MIN_BUDGET <= max_tokens <= MAX_BUDGET
    ):
        raise InvalidInput(f"'max_tokens' must be {MIN_BUDGET}..{MAX_BUDGET}", field="max_tokens")
    low, high = parse_bound(after, "after"), parse_bound(before, "before")
    candidates = min(max(max_tokens // TOKENS_PER_CANDIDATE, CANDIDATES[0]), CANDIDATES[1])
    result = search(
        stores,
        query,
        session_id=session_id,
        role=role,
        after=low,
        before=high,
        limit=candidates,
        mode=mode,
        snippets=False,  # whole messages are shown, not snippets
    )
    keys = [(h.session_id, h.message_id) for h in result.hits]
    ranked = _with_neighbours(stores, keys, role, low, high)
    # The envelope at its dearest: `tokens` and the omitted count at their largest.
    remaining = max_tokens - envelope_cost(
        {"tokens": max_tokens, "omitted": {"count": candidates, "best": []}}
    )

    cap = max(max_tokens // MAX_SHARE, 2 * MIN_SHORTENED)  # one message's most, at first
    stems = query_stems(query)  # where a long message is cut (indexer/excerpt.py)
    taken: list[tuple[_Msg, ContextMessage]] = []  # in priority order
    paid: set[str] = set()  # sessions whose header is paid for
    omitted: list[Pointer] = []
    for _, rank, hit, msg in ranked:
        header = 0 if msg.session_id in paid else header_cost(_head(msg).to_dict())
        room = min(remaining - header, cap)
        whole = _entry(msg, msg.content, rank, hit=hit, cut=False)
        kept: ContextMessage | None = whole
        # A text far longer than `room` tokens' worth of characters is not priced whole
        # (the estimate reads every word): it is cut, or left out.
        far = len(msg.content) > room * FAR_CHARS_PER_TOKEN
        cost = room + 1 if far else entry_cost(whole.to_dict())
        if cost > room:
            kept, cost = _shortened(msg, rank, hit, room, stems)
        if kept is None:
            if hit:  # a neighbour left out is not worth a pointer
                omitted.append(_pointer(msg, rank))
            continue
        remaining -= header + cost
        paid.add(msg.session_id)
        taken.append((msg, kept))
    remaining = _lengthened(taken, remaining, stems)
    pointers = 0
    for p in omitted[:POINTERS]:
        cost = pointer_cost([p.session_id, p.offset]) + (0 if pointers else BEST)
        if cost > remaining:
            break
        remaining -= cost
        pointers += 1
    return _within(result.mode, max_tokens, taken, omitted, pointers)


def _lengthened(
    taken: list[tuple[_Msg, ContextMessage]], remaining: int, stems: frozenset[str]
) -> int:
    """The room left once every message had its turn goes to the messages that were cut,
    best first: each is taken whole if the room pays for it, else cut longer. Returns the
    room left."""
    for i, (msg, kept) in enumerate(taken):
        if remaining <= 0:
            break
        if not kept.cut:
            continue
        now = entry_cost(kept.to_dict())
        whole = _entry(msg, msg.content, kept.rank, hit=kept.hit, cut=False)
        cost = entry_cost(whole.to_dict())
        if cost - now > remaining:
            longer, cost = _shortened(msg, kept.rank, kept.hit, now + remaining, stems)
            if longer is None or cost <= now:
                continue
            whole = longer
        taken[i] = (msg, whole)
        remaining -= cost - now
    return remaining


def _within(
    mode: str,
    max_tokens: int,
    taken: list[tuple[_Msg, ContextMessage]],
    omitted: list[Pointer],
    pointers: int,
) -> Context:
    """The result, its `tokens` the cost of itself; while that exceeds the
    budget, the lowest priority piece goes: a pointer, else the last message taken (a hit
    joins `omitted`)."""
    while True:
        sessions = _grouped(taken)
        context = _settled(Context(mode, max_tokens, 0, sessions, tuple(omitted), pointers))
        if context.tokens <= max_tokens or not (pointers or taken):
            return context
        if pointers:
            pointers -= 1
            continue
        msg, dropped = taken.pop()
        if dropped.hit:
            omitted = sorted([*omitted, _pointer(msg, dropped.rank)], key=lambda p: p.rank)


def _grouped(taken: list[tuple[_Msg, ContextMessage]]) -> tuple[ContextSession, ...]:
    """The messages taken, by session: sessions and messages in time order."""
    grouped: dict[str, list[ContextMessage]] = {}
    heads: dict[str, _Msg] = {}
    for msg, kept in taken:
        grouped.setdefault(msg.session_id, []).append(kept)
        heads.setdefault(msg.session_id, msg)
    sessions = [
        replace(_head(heads[sid]), messages=tuple(sorted(msgs, key=lambda m: m.offset)))
        for sid, msgs in grouped.items()
    ]
    sessions.sort(key=lambda s: (s.date, s.messages[0].created_at, s.session_id))
    return tuple(sessions)


def _settled(context: Context) -> Context:
    """`tokens` set to the cost of the result that holds it (its digits count too: a few
    rounds settle it; the cost only grows with the number's digits)."""
    tokens = result_cost(context.to_dict())
    for _ in range(8):
        context = replace(context, tokens=tokens)
        again = result_cost(context.to_dict())
        if again == tokens:
            break
        tokens = max(tokens, again)
    return context


def _head(msg: _Msg) -> ContextSession:
    return ContextSession(msg.session_id, msg.title, msg.date, ())


def _entry(msg: _Msg, content: str, rank: int, *, hit: bool, cut: bool) -> ContextMessage:
    return ContextMessage(
        offset=msg.position,
        role=msg.role,
        content=content,
        hit=hit,
        cut=cut,
        day_differs=msg.created_at[:10] != msg.date[:10],
        message_id=msg.message_id,
        created_at=msg.created_at,
        rank=rank,
    )


def _shortened(
    msg: _Msg, rank: int, hit: bool, room: int, stems: frozenset[str]
) -> tuple[ContextMessage | None, int]:
    """The message cut between words, with its markers, so that its entry costs at most
    `room` and as near it as a few tries get; (None, 0) when less than MIN_SHORTENED tokens
    of text would be left or no cut fits. The excerpt starts where the query's words are
    (indexer/excerpt.py), after a marker saying how much comes before, unless the
    beginning holds them as well. The estimate of a text with its markers is not the sum
    of the parts (the markers' words can make the line read as English, cheaper),
    so each try asks for more or less by what the last missed."""
    frame = entry_cost(_entry(msg, "", rank, hit=hit, cut=True).to_dict())
    if room - frame - MARKER_LEAST - 1 < MIN_SHORTENED:  # not worth a cut: leave it out
        return None, 0
    marker = MARKER.format(n=text_cost(msg.content))  # priced already: whole, it did not fit
    want = room - frame - estimate_tokens(marker) - 1
    if want < MIN_SHORTENED:
        return None, 0
    start = focus(msg.content, stems, want)
    head = HEAD.format(n=estimate_tokens(msg.content[:start])) + "\n" if start else ""
    body = msg.content[start:].rstrip()
    want -= estimate_tokens(head)
    best: tuple[ContextMessage | None, int] = (None, 0)
    tried: dict[str, int] = {}  # text -> its entry's cost
    for _ in range(SHORTEN_TRIES):
        if want < MIN_SHORTENED:
            break
        text = cut_to_tokens(body, want).rstrip()
        rest = text == body  # all that follows the start fits
        if (rest and not head) or tried.get(text, 0) > room:
            break  # the whole message (not a cut), or longer than what was seen to overshoot
        cost = tried.get(text, 0)
        if not cost:
            tail = "" if rest else ("\n" + marker if text.strip() else marker)
            kept = _entry(msg, head + text + tail, rank, hit=hit, cut=True)
            cost = tried[text] = entry_cost(kept.to_dict())
            if best[1] < cost <= room:
                best = (kept, cost)
        if cost == room or (rest and cost <= room):
            break
        if cost > room:  # ask for less than this text: a shorter one comes back
            want = min(want, estimate_tokens(text)) - (cost - room)
        else:
            want += room - cost
    return best


def _pointer(msg: _Msg, rank: int) -> Pointer:
    return Pointer(msg.session_id, msg.position, msg.message_id, rank)


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
