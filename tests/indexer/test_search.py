"""The query language and full-text search over a real tantivy index."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from indexer import Indexer, InvalidQuery, fulltext, retrieval
from indexer.records import normalize_ts, parse_bound
from tests.helpers.polling import PATIENCE
from vault import InvalidInput, Vault


@pytest.fixture
def corpus(ix: Indexer) -> dict[str, str]:
    a = ix.append_message("auth", "user", "How do I refresh a JWT token in the auth service?")
    ix.append_message("auth", "assistant", "Call the refresh endpoint; the token rotates.")
    ix.append_message("auth", "user", "And OAuth? Our c++ client uses foo-bar headers.")
    b = ix.append_message(
        "build",
        "user",
        "The build of sess-0001 fails in CMake",
        created_at="2024-03-01T10:00:00.000Z",
    )
    ix.append_message("build", "assistant", "Pin cmake 3.28 and clean the cache.")
    ix.create_session("keyed", title="Deploy notes", agent_id="bot", channel="slack")
    ix.append_message("keyed", "user", "deploy the token service to staging")
    assert ix.flush(PATIENCE)
    return {"auth": a.session_id, "build": b.session_id}


def ids(ix: Indexer, query: str, **kw: Any) -> list[str]:
    return sorted(f"{h.session_id}:{h.role}" for h in ix.search(query, limit=50, **kw).hits)


def ranked(ix: Indexer, query: str, **kw: Any) -> list[str]:
    return [f"{h.session_id}:{h.role}" for h in ix.search(query, limit=50, **kw).hits]


def test_plain_words_are_ranked_messages_with_more_of_them_first(
    ix: Indexer, corpus: dict[str, str]
) -> None:
    got = ranked(ix, "refresh token")
    assert sorted(got[:2]) == ["auth:assistant", "auth:user"]  # both words
    assert got[2:] == ["keyed:user"]  # "token" only: found, ranked after
    # the auth session's title comes from its first message: it lifts nothing
    assert ranked(ix, "notes") == ["keyed:user"]  # a chosen title ("Deploy notes") does
    assert ids(ix, "+refresh +token") == ["auth:assistant", "auth:user"]
    assert ids(ix, "refresh AND jwt") == ["auth:user"]
    assert ids(ix, "jwt AND refresh token") == ["auth:user"]  # AND binds its two sides


def test_phrase_exclusion_or_prefix(ix: Indexer, corpus: dict[str, str]) -> None:
    assert ranked(ix, '"token rotates"')[0] == "auth:assistant"
    assert ids(ix, '+"token rotates"') == ["auth:assistant"]
    assert ids(ix, '+"rotates token"') == []
    assert ids(ix, "+token -refresh") == ["keyed:user"]
    assert ids(ix, "+token NOT refresh") == ["keyed:user"]
    assert ids(ix, "+token -(refresh OR deploy)") == []
    assert ids(ix, "oauth OR cmake") == ["auth:user", "build:assistant", "build:user"]
    assert ids(ix, "stag*") == ["keyed:user"]
    assert ids(ix, '"clean the ca"*') == ["build:assistant"]
    assert "keyed:user" not in ids(ix, "-token")


@pytest.mark.parametrize(
    "query",
    ["c++", "foo-bar", "sess-0001", "C#", "a:b:c", "x AND", "*", "OR", "NOT", "(", ")", '"', "-"],
)
def test_punctuation_never_breaks_a_plain_query(
    ix: Indexer, corpus: dict[str, str], query: str
) -> None:
    ix.search(query)  # no exception


def test_punctuated_words_match_as_phrases(ix: Indexer, corpus: dict[str, str]) -> None:
    assert ids(ix, "+sess-0001") == ["build:user"]
    assert ids(ix, "+foo-bar") == ["auth:user"]
    assert ids(ix, "+foo-headers") == []
    assert ranked(ix, "sess-0001")[0] == "build:user"  # then its session's other message


@pytest.mark.parametrize(
    ("query", "same_as"),
    [
        ('"unclosed cmake', "unclosed cmake"),
        ('ok "cmake', "ok cmake"),
        ("(cmake", "cmake"),
        ("cmake)", "cmake"),
        ("OR cmake", "cmake"),
        ("cmake OR", "cmake"),
        ("cmake AND", "cmake"),
        ("NOT cmake NOT", "-cmake"),
        ("() cmake", "cmake"),
        ("cmake - +", "cmake"),
    ],
)
def test_stray_quotes_and_operators_read_as_plain_text(
    ix: Indexer, corpus: dict[str, str], query: str, same_as: str
) -> None:
    assert ranked(ix, query) == ranked(ix, same_as)


@pytest.mark.parametrize(
    ("query", "position"),
    [("   ", 0), ("x" * 2001, 2000), ("(" * 33 + "x", 32)],
)
def test_only_a_query_that_cannot_mean_anything_is_invalid(
    ix: Indexer, query: str, position: int
) -> None:
    with pytest.raises(InvalidQuery) as info:
        ix.search(query)
    assert info.value.code == "INVALID_QUERY"
    assert info.value.position == position


def test_hits_have_snippet_score_and_fields(ix: Indexer, corpus: dict[str, str]) -> None:
    result = ix.search("+jwt")
    assert result.total == 1
    hit = result.hits[0]
    assert hit.session_id == "auth"
    assert hit.role == "user"
    assert hit.score > 0
    assert hit.session_title
    assert hit.created_at.endswith("Z")
    assert "**JWT**" in hit.marked_snippet()
    start, end = hit.highlights[0]
    assert hit.snippet[start:end] == "JWT"


def test_ranking_is_bm25(ix: Indexer) -> None:
    ix.append_message("r", "user", "kafka " * 5 + "and more words here")
    ix.append_message("r", "user", "one mention of kafka among many many other different words")
    result = ix.search("kafka")
    assert result.hits[0].score >= result.hits[1].score
    assert result.hits[0].snippet.startswith("kafka")


def test_filters(ix: Indexer, corpus: dict[str, str]) -> None:
    assert ids(ix, "token", session_id="keyed") == ["keyed:user"]
    assert ids(ix, "token", role="assistant") == ["auth:assistant"]
    assert ids(ix, "token", agent_id="bot", channel="slack") == ["keyed:user"]
    assert ids(ix, "cmake", before="2024-06-01T00:00:00Z") == ["build:user"]
    assert "build:user" not in ids(ix, "cmake", after="2024-06-01T00:00:00Z")
    with pytest.raises(InvalidInput):
        ix.search("x", nope="1")
    with pytest.raises(InvalidInput):
        ix.search("x", after="yesterday")


def test_time_bounds_and_stored_times_are_canonical() -> None:
    assert parse_bound("2025-01-15T16:30:22.123456+02:00", "after") == "2025-01-15T14:30:22.123Z"
    assert (
        parse_bound(datetime(2025, 1, 5, 4, 3, 2, 999999), "before") == "2025-01-05T04:03:02.999Z"
    )
    assert parse_bound("0999-01-01T00:00:00Z", "after") == "1678-01-01T00:00:00.000Z"  # clamped
    assert normalize_ts("2025-01-15 14:30:22-01:00") == "2025-01-15T15:30:22.000Z"
    # a year below 1000 keeps the form it always had (strftime's %Y, not zero-padded)
    early = datetime(999, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert normalize_ts("0999-01-01T00:00:00+00:00") == early


def test_paging(ix: Indexer, corpus: dict[str, str]) -> None:
    everything = ix.search("token OR cmake OR oauth", limit=50)
    page = ix.search("token OR cmake OR oauth", limit=2, offset=2)
    assert [h.message_id for h in page.hits] == [h.message_id for h in everything.hits[2:4]]
    assert page.total == everything.total
    # snippets are made for the page returned only: the same ones as in the whole list
    assert [(h.snippet, h.highlights) for h in page.hits] == [
        (h.snippet, h.highlights) for h in everything.hits[2:4]
    ]
    assert all(h.highlights for h in page.hits)


def test_without_snippets_the_same_hits_in_the_same_order(
    ix: Indexer, corpus: dict[str, str]
) -> None:
    """What get_context reads (it shows whole messages): no snippet made, no total counted."""
    full = retrieval.search(ix.stores, "token OR cmake OR oauth", limit=50)
    bare = retrieval.search(ix.stores, "token OR cmake OR oauth", limit=50, snippets=False)
    assert [h.message_id for h in bare.hits] == [h.message_id for h in full.hits]
    assert [h.score for h in bare.hits] == [h.score for h in full.hits]
    assert all(h.snippet for h in full.hits)
    assert all(h.snippet == "" and h.highlights == () for h in bare.hits)
    assert bare.total == len(bare.hits)


def test_a_snippet_generator_is_made_only_for_a_snippet_shown(
    ix: Indexer, corpus: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without snippets (get_context's search), and for hybrid's keyword candidates until
    one is returned, no snippet generator is made (one per searcher and query otherwise)."""
    made: list[object] = []
    generator = fulltext._Snippets.generator

    def counted(self: fulltext._Snippets) -> Any:
        made.append(self)
        return generator(self)

    monkeypatch.setattr(fulltext._Snippets, "generator", counted)
    bare = retrieval.search(ix.stores, "token OR cmake", limit=50, snippets=False)
    assert bare.hits and made == []
    found, _ = retrieval._keyword_candidates(ix.stores, "token cmake", [], 10)  # hybrid's side
    assert len(found) >= 3 and made == []
    shown = found[0].with_snippet()
    assert shown.highlights and len(set(map(id, made))) == 1
    full = retrieval.search(ix.stores, "token OR cmake", limit=50)
    assert all(h.snippet for h in full.hits)
    assert [h.message_id for h in full.hits] == [h.message_id for h in bare.hits]
    # one generator per source (the committed index; no queued change here), made once
    assert len(set(map(id, made[1:]))) == 1


def test_search_sees_writes_before_tantivy_commits(ix: Indexer) -> None:
    """Read-your-writes: no flush, so the hit must come from the queued-change overlay."""
    ix.append_message("s", "user", "zebra crossing")
    assert [h.session_id for h in ix.search("zebra").hits] == ["s"]
    ix.flush()
    ix.patch_session("s", title="Animals")
    assert ix.search("zebra").hits[0].session_title == "Animals"
    ix.delete_session("s")
    assert ix.search("zebra").total == 0
    ix.flush()
    assert ix.search("zebra").total == 0


def test_date_filters_far_outside_tantivys_range_are_clamped(vault: Vault, ix: Indexer) -> None:
    ix.append_message("dates", "user", "timeless words")
    assert ix.search("timeless", after="2999-01-01T00:00:00Z").total == 0
    assert ix.search("timeless", before="0001-01-01T00:00:00Z").total == 0
    assert (
        ix.search("timeless", after="0001-01-01T00:00:00Z", before="9999-12-31T00:00:00Z").total
        == 1
    )


def test_a_prefix_matches_every_word_it_starts_not_only_fifty(ix: Indexer) -> None:
    for n in range(70):
        ix.append_message("many", "user", f"the build{n} failed")
    ix.append_message("other", "user", "build0 the")
    assert ix.search("build*", limit=100).total == 71
    assert ix.search('"the build"*', limit=100).total == 70
    assert ix.search('"failed the"*', limit=100).total == 0


def test_threads_storing_and_searching_each_see_their_own_writes(live: Indexer) -> None:
    problems: list[str] = []

    def run(name: str) -> None:
        for n in range(40):
            word = f"{name}x{n}"
            live.append_message(f"{name}-session", "user", f"{word} stored by {name}")
            found = live.search(word)
            if [h.snippet.split()[0] for h in found.hits] != [word]:
                problems.append(f"{name} missed {word}: {found.total}")

    threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert problems == []
    assert live.flush(PATIENCE)
    assert live.search("stored", limit=500).total == 160


def test_the_overlay_index_is_refilled_not_recreated(ix: Indexer) -> None:
    ix.append_message("o", "user", "first overlay word")
    assert ix.search("first").total == 1  # nobody absorbs the queue: the overlay answers
    writer = ix.fulltext._overlay_writer
    for n in range(5):
        ix.append_message("o", "user", f"next{n} overlay word")
        assert ix.search(f"next{n}").total == 1
        assert ix.search("overlay").total == n + 2
    assert writer is not None and ix.fulltext._overlay_writer is writer
