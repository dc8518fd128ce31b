"""get_context: the budget rule, pairs, grouping and pointers; the token estimate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.transcript import parse
from indexer import Indexer
from indexer.context import (
    MARKER,
    MAX_BUDGET,
    MAX_SHARE,
    MIN_SHORTENED,
    Context,
    ContextMessage,
    render,
)
from indexer.context_cost import result_cost
from indexer.tokens import cut_to_tokens, estimate_tokens
from mcp_server.results import text_only
from tests.helpers.mcp_text import result_text
from vault import InvalidInput

from .conftest import embed_all


@pytest.fixture
def filled(index: Indexer) -> Indexer:
    long_answer = " ".join(
        f"Step {i}: restart the nginx proxy and check upstream timeouts." for i in range(120)
    )
    a = index.append_message("ops-1", "user", "the nginx proxy timeout keeps happening")
    index.append_message(a.session_id, "assistant", long_answer)
    index.append_message("ops-2", "user", "nginx proxy buffers too small?")
    index.append_message("ops-2", "assistant", "raise proxy_buffer_size to 16k for nginx")
    index.append_message("cook", "user", "a recipe for pancakes")
    index.append_message("cook", "assistant", "flour, eggs, milk")
    embed_all(index)
    return index


def _all_messages(ctx: Context) -> list[ContextMessage]:
    return [m for s in ctx.sessions for m in s.messages]


def _text(ctx: Context) -> str:
    """The result exactly as the get_context tool sends it: a transcript and nothing else,
    which holds all of `to_dict()` (read back, it is the same)."""
    result = text_only(render(ctx))
    assert result.structured_content is None
    text = result_text(result)
    assert parse(text) == ctx.to_dict()
    return text


def _cost(ctx: Context) -> int:
    """What the tool's text costs, priced from the text itself (read back)."""
    return result_cost(parse(_text(ctx)))


@pytest.mark.parametrize("budget", [100, 120, 300, 800, 5000])
def test_stays_within_budget_and_points_at_the_rest(filled: Indexer, budget: int) -> None:
    ctx = filled.get_context("nginx proxy timeout", budget)
    assert ctx.mode == "hybrid"
    assert ctx.tokens == _cost(ctx) <= budget  # the whole result
    shown = {(s.session_id, m.offset) for s in ctx.sessions for m in s.messages}
    left = {(p.session_id, p.offset) for p in ctx.omitted}
    assert not shown & left
    for p in ctx.omitted:  # a pointer fetches exactly that message
        assert filled.get_messages(p.session_id, offset=p.offset, limit=1)[0].id == p.message_id
    data = ctx.to_dict()
    assert data["omitted"]["count"] == len(ctx.omitted)
    assert (
        data["omitted"]["best"]
        == [[p.session_id, p.offset] for p in ctx.omitted][:3][: len(data["omitted"]["best"])]
    )
    for m in _all_messages(ctx):
        entry = m.to_dict()
        assert set(entry) <= {"offset", "role", "content", "near", "cut", "date"}
        assert entry.get("near", False) is not m.hit and entry.get("cut", False) is m.cut
        if m.cut:
            assert "get_messages" in m.content and m.content.endswith("]")
            body = m.content.rsplit("\n", 1)[0]
            original = filled.get_messages("ops-1", offset=m.offset, limit=1)[0].content
            assert original.startswith(body)  # a prefix, cut between words
            assert original[len(body)] == " "
    if budget == 5000:
        assert not ctx.omitted or all(p.session_id == "cook" for p in ctx.omitted)


def test_the_whole_result_fits_every_budget(filled: Indexer, story: Indexer) -> None:
    """The budget pays for everything the agent reads: the cost of the tool's text,
    envelope, headers, entries and pointers included, at every budget from the smallest."""
    budgets = [*range(100, 400, 7), *range(400, 3000, 113)]
    for query in ("nginx proxy timeout", "restart the nginx proxy upstream", "heron kingfisher"):
        for budget in budgets:
            ctx = filled.get_context(query, budget, mode="keyword")
            assert ctx.tokens == _cost(ctx) <= budget, (query, budget)
    # the budget buys contents
    sizes = [len(_all_messages(filled.get_context("nginx", b, mode="keyword"))) for b in budgets]
    assert sizes[0] < sizes[-1]


def test_prose_among_code_fits_too(index: Indexer) -> None:
    """A result of code and ids with some prose: each content is priced alone (a prose
    message as English, cheaper), and the pieces add up to the whole at every budget."""
    prose = "we rotated the deployment credentials and the certificates because the auditors requested it"
    code = " ".join(f"deployKey{j} = rotate(KEYS[{j}], period=PERIOD_{j})" for j in range(6))
    for i in range(12):
        index.append_message(f"ops-{i}", "user", f"{prose} {i}" if i % 4 == 0 else code)
        index.append_message(f"ops-{i}", "assistant", f"{code} {i}")
    for budget in range(100, 1600, 9):
        ctx = index.get_context("rotate deploy keys", budget, mode="keyword")
        assert ctx.tokens == _cost(ctx) <= budget, budget


def test_the_result_is_lean(story: Indexer) -> None:
    ctx = story.get_context("heron", 2000, mode="keyword")
    text = _text(ctx)
    data = parse(text)
    assert set(data) == {"mode", "tokens", "sessions", "omitted"}
    (session,) = data["sessions"]
    assert set(session) == {"session_id", "title", "date", "messages"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", session["date"])  # to the minute
    assert [set(m) for m in session["messages"]] == [  # the hit, and the turns near it
        {"offset", "role", "content", "near"},
        {"offset", "role", "content"},
        {"offset", "role", "content", "near"},
    ]
    assert session["messages"][0]["near"] is session["messages"][2]["near"] is True
    assert data["omitted"] == {"count": 0, "best": []}
    lines = text.split("\n")  # the transcript, line by line
    assert lines[0] == f"mode: keyword · tokens: {ctx.tokens}"
    assert (
        lines[1] == f"## session {session['session_id']} · {session['date']} · {session['title']}"
    )
    assert [line.split(":")[0] for line in lines[2:5]] == [
        f"[{m['offset']}] {m['role']}" + (", near" if m.get("near") else "")
        for m in session["messages"]
    ]
    assert lines[5:] == ["omitted: 0"]
    assert "{" not in text and '\\"' not in text  # no JSON: nothing escaped


def test_a_larger_budget_searches_deeper(index: Indexer) -> None:
    """30 hits at the least, one per 40 tokens of budget beyond: a large budget is not
    left empty while matching messages remain."""
    for i in range(80):
        index.append_message(f"walk-{i % 8}", "user", f"the heron stood in pond {i}")
    small = index.get_context("heron pond", 1200, mode="keyword")
    large = index.get_context("heron pond", 4000, mode="keyword")
    hits = [sum(m.hit for s in c.sessions for m in s.messages) for c in (small, large)]
    assert hits[0] <= 30 < hits[1] <= 100
    assert large.tokens <= 4000


def test_a_message_from_another_day_shows_its_date(index: Indexer) -> None:
    index.append_message("trip", "user", "book the ferry", created_at="2023-05-08T10:00:00.000Z")
    index.append_message("trip", "assistant", "ferry booked", created_at="2023-05-08T10:01:00.000Z")
    index.append_message("trip", "user", "ferry was late", created_at="2023-05-10T09:00:00.000Z")
    ctx = index.get_context("ferry", 2000, mode="keyword")
    (session,) = ctx.to_dict()["sessions"]
    dates = {m["offset"]: m.get("date") for m in session["messages"]}
    assert dates == {0: None, 1: None, 2: "2023-05-10T09:00Z"}  # to the minute


def test_pointers_are_paid_for(filled: Indexer) -> None:
    """Pointers appear only when the room left pays for them; the count is always there."""
    seen = False
    for budget in range(100, 700, 11):
        ctx = filled.get_context("nginx proxy timeout", budget)
        data = parse(_text(ctx))
        assert data["omitted"]["count"] == len(ctx.omitted)
        assert len(data["omitted"]["best"]) <= min(3, len(ctx.omitted))
        seen = seen or bool(data["omitted"]["best"])
        assert ctx.tokens <= budget
    assert seen


def test_pairs_grouped_by_session_in_time_order(filled: Indexer) -> None:
    ctx = filled.get_context("nginx proxy", 5000)
    assert [s.session_id for s in ctx.sessions][:2] == ["ops-1", "ops-2"]
    for s in ctx.sessions:
        assert [m.offset for m in s.messages] == sorted(m.offset for m in s.messages)
        roles = [m.role for m in s.messages]
        assert roles[:2] == ["user", "assistant"]  # a hit brings its partner
    # both messages of ops-2 are hits: each has its own rank; a neighbour has its hit's
    assert all(m.hit for m in ctx.sessions[1].messages)
    assert len({m.rank for m in ctx.sessions[1].messages}) == 2


def test_a_message_that_does_not_fit_is_shortened_or_left_out(filled: Indexer) -> None:
    ctx = filled.get_context("restart the nginx proxy upstream timeouts", 400, session_id="ops-1")
    messages = _all_messages(ctx)
    assert any(m.cut for m in messages) or ctx.omitted
    assert all(s.session_id == "ops-1" for s in ctx.sessions)
    assert MARKER.split("{n}")[0] in "".join(m.content for m in messages if m.cut) or ctx.omitted


def _long_log(i: int) -> str:
    return f"build log {i}: " + " ".join(f"compiled module{j} of crate{i} fine" for j in range(400))


def test_long_hits_share_the_budget(index: Indexer) -> None:
    """Four long tool results that match: none fills the budget alone (at first each gets
    at most a quarter), so all four show, cut; the room left lengthens them, best first."""
    for i in range(4):
        index.append_message(f"build-{i}", "tool", _long_log(i))
    ctx = index.get_context("compiled crate build log", 2000, mode="keyword")
    shown = _all_messages(ctx)
    assert len(shown) == 4 and all(m.cut and m.hit for m in shown)
    assert ctx.tokens <= 2000
    assert 2000 - ctx.tokens < 2 * MIN_SHORTENED  # the room left went to the cut messages


def test_a_lone_long_hit_gets_the_whole_budget(index: Indexer) -> None:
    index.append_message("build-0", "tool", _long_log(0))
    index.append_message("cook", "user", "a recipe for pancakes")
    ctx = index.get_context("compiled crate build log", 2000, mode="keyword")
    (only,) = _all_messages(ctx)
    assert only.cut and ctx.tokens <= 2000
    assert estimate_tokens(only.content) > 2000 // MAX_SHARE * 3  # lengthened past the cap


def test_a_long_message_is_cut_around_the_words_asked_for(index: Indexer) -> None:
    """A long log whose matching line sits far down: the excerpt shows that line, after a
    marker saying how much comes before; a match at the start is cut from the start."""
    log = "\n".join(f"step {i}: compiled module{i} fine" for i in range(600))
    deep = log + "\nERROR: the alembic migration failed on table users\n" + "done\n" * 40
    index.append_message("deploy", "tool", deep)
    index.append_message("deploy-2", "tool", "alembic migration started\n" + log)
    ctx = index.get_context("why did the alembic migration fail", 600, mode="keyword")
    by_session = {s.session_id: s.messages[0] for s in ctx.sessions}
    focused, early = by_session["deploy"], by_session["deploy-2"]
    assert focused.cut and "alembic migration failed on table users" in focused.content
    assert focused.content.startswith("[… about ") and "tokens before this" in focused.content
    assert early.cut and early.content.startswith("alembic migration started")
    assert ctx.tokens == _cost(ctx) <= 600


def test_filters_apply_and_budget_is_checked(filled: Indexer) -> None:
    ctx = filled.get_context("nginx", 2000, role="assistant")
    assert {m.role for m in _all_messages(ctx)} == {"assistant"}
    for bad in (0, 99, MAX_BUDGET + 1, True):
        with pytest.raises(InvalidInput):
            filled.get_context("nginx", bad)


def test_works_without_semantic_search(vault_root: Path) -> None:
    idx = Indexer(vault_root).open()
    try:
        a = idx.append_message(None, "user", "where do the logs go")
        idx.append_message(a.session_id, "assistant", "to /var/log/app")
        ctx = idx.get_context("logs", 500)
        assert ctx.mode == "keyword" and len(_all_messages(ctx)) == 2
    finally:
        idx.close()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), st.integers(0, 80))
def test_cut_never_splits_a_word_and_fits(text: str, budget: int) -> None:
    cut = cut_to_tokens(text, budget)
    assert text.startswith(cut)
    assert estimate_tokens(cut) <= max(budget, 0) or cut == ""
    if cut and cut != text:
        assert not text[len(cut)].strip() or not re.match(r"\S", text[len(cut)])


def test_estimate_on_typical_text() -> None:
    assert estimate_tokens("") == 0
    # cl100k_base: 13 tokens; the estimate leans high, never 10% low
    assert 12 <= estimate_tokens("How do I rotate JWT signing keys without any downtime?") <= 30


@pytest.fixture
def story(index: Indexer) -> Indexer:
    """One session of ten turns; the words searched for sit in turns 3, 6 and 7 only."""
    turns = [
        ("user", "morning! how was the weekend"),
        ("assistant", "quiet, mostly reading"),
        ("user", "what did you end up doing on Saturday afternoon?"),
        ("assistant", "we went birdwatching and saw a grey heron by the lake"),
        ("user", "nice, anything else"),
        ("assistant", "not really, then dinner"),
        ("user", "which lake has the kingfisher nest?"),
        ("assistant", "the kingfisher nests at the north pond, not the lake"),
        ("user", "thanks"),
        ("assistant", "any time"),
    ]
    for role, text in turns:
        index.append_message("walks", role, text, created_at="2023-05-08T13:56:00.000Z")
    index.patch_session("walks", title="Weekend walks")
    return index


def test_a_hit_brings_the_turns_around_it_and_stretches_merge(story: Indexer) -> None:
    ctx = story.get_context("heron", 2000, mode="keyword")
    (session,) = ctx.sessions
    assert session.title == "Weekend walks" and session.date.startswith("20")
    by_offset = {m.offset: m for m in session.messages}
    assert sorted(by_offset) == [2, 3, 4]  # the question before the answer, and after
    assert by_offset[3].hit and not by_offset[2].hit and not by_offset[4].hit
    # two hits whose surroundings overlap make one stretch, each message once
    ctx = story.get_context("kingfisher lake", 2000, mode="keyword")
    (session,) = ctx.sessions
    offsets = [m.offset for m in session.messages]
    assert len(offsets) == len(set(offsets))
    assert {5, 6, 7, 8} <= set(offsets)
    assert offsets == sorted(offsets)


def test_neighbours_obey_the_filters_and_the_budget(story: Indexer) -> None:
    ctx = story.get_context("heron", 2000, mode="keyword", role="assistant")
    assert [m.offset for s in ctx.sessions for m in s.messages] == [3]
    whole = story.get_context("heron", 2000, mode="keyword").tokens  # the hit and two turns
    small = story.get_context("heron", whole - 1, mode="keyword")  # no room for all three
    assert small.tokens < whole
    shown = [m for s in small.sessions for m in s.messages]
    assert [m.offset for m in shown if m.hit] == [3]  # the hit first, neighbours if room
    assert len(shown) < 3


def test_the_first_fifteen_hits_come_before_any_hits_neighbours(index: Indexer) -> None:
    """A neighbour of the hit ranked r is taken only after every hit ranked up to
    r + NEIGHBOUR_LAG (20): the ranking already lifts the turns around a match (the
    neighbour lift), so the first 15 hits all come before any hit's surroundings."""
    # Turns around a hit cost more than a hit with its session's header, so a left-out hit
    # never leaves room for a whole neighbour (whose session is already paid for); the room
    # left may still hold a shortened one.
    chat = " ".join(["and then some small talk about the weather"] * 8)
    for i in range(15):
        sid = f"walk-{i:02d}"
        index.create_session(sid, title=f"walk {i}")
        index.append_message(sid, "user", f"before walk {i}: {chat}")
        index.append_message(sid, "assistant", f"we saw a grey heron on walk {i}")
        index.append_message(sid, "user", f"after walk {i}: {chat}")
    seen_neighbours = False
    for budget in range(150, 3000, 40):
        ctx = index.get_context("grey heron", budget, mode="keyword")
        shown = [m for s in ctx.sessions for m in s.messages]
        hit_ranks = {m.rank for m in shown if m.hit}
        for m in shown:
            if not m.hit and not m.cut:
                seen_neighbours = True
                assert set(range(1, 16)) <= hit_ranks, (budget, m.rank, sorted(hit_ranks))
    assert seen_neighbours  # the largest budgets do hold neighbours
