"""The semantic query (indexer/focus.py): the words a large share of the vault's messages
hold are left out of the text embedded for a query; the keyword side reads it whole."""

from __future__ import annotations

from typing import Any

from indexer import Indexer
from indexer.focus import COMMON_LEAST, COMMON_SHARE, semantic_text

from .conftest import embed_all

FREQ = {"alice": 600, "the": 500, "to": 450, "books": 40, "read": 90, "kettle": 3}


def frequency(word: str) -> int:
    return FREQ.get(word, 0)


def test_content_words_most_messages_hold_are_left_out_as_written() -> None:
    # 1,000 messages: a word in more than COMMON_SHARE of them goes, whatever its case;
    # punctuation and the other words stay as written
    assert semantic_text("What books has Alice read to the kids?", frequency, 1000) == (
        "What books has read to the kids?"
    )
    assert semantic_text("ALICE: the Kettle!", frequency, 1000) == ": the Kettle!"


def test_a_query_without_common_words_is_left_as_it_is() -> None:
    query = "How do I  descale\n\na kettle?"
    assert semantic_text(query, frequency, 1000) is query


def test_stop_words_stay_however_common() -> None:
    """The model reads a question's grammar: "the" and "to" (in half the messages) stay."""
    assert semantic_text("the kettle to descale", frequency, 1000) == "the kettle to descale"


def test_numbers_stay_however_common() -> None:
    """Numbered lists make "1" and "2" common in any vault of assistant replies; a number in
    a question is rarely filler."""
    assert semantic_text(
        "alice's top 3 tips", lambda w: 900 if w in {"alice", "3"} else 0, 1000
    ) == ("'s top 3 tips")


def test_the_share_is_strict_and_measured_against_the_vault() -> None:
    at_share = int(COMMON_SHARE * 1000)
    assert semantic_text("books", lambda w: at_share, 1000) == "books"  # not more than
    assert semantic_text("books next", lambda w: at_share + 1 if w == "books" else 0, 1000) == (
        "next"
    )
    # the same counts in a vault ten times larger are no longer common
    assert semantic_text("Alice read", frequency, 10 * int(600 / COMMON_SHARE)) == "Alice read"


def test_a_small_vault_keeps_its_queries_whole() -> None:
    """Fewer than COMMON_LEAST messages holding a word never make it common, whatever
    their share: in a vault of ten messages, a word in all of them stays."""
    few = COMMON_LEAST - 1
    assert semantic_text("alice kettle", lambda w: few if w == "alice" else 0, few) == (
        "alice kettle"
    )
    assert semantic_text("alice kettle", lambda w: COMMON_LEAST if w == "alice" else 0, 40) == (
        "kettle"
    )
    assert semantic_text("alice kettle", frequency, 0) == "alice kettle"  # no index yet


def test_a_query_of_common_and_stop_words_only_is_embedded_whole() -> None:
    assert semantic_text("Alice, to the...", frequency, 1000) == "Alice, to the..."
    assert semantic_text("alice read", frequency, 1000) == "read"


def _cosine(idx: Indexer, a: str, b: str) -> float:
    va, vb = idx.semantic.embedder().embed([a, b])
    return float(sum(x * y for x, y in zip(va, vb, strict=True)))


def _store(idx: Indexer, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    ids = {}
    for user, assistant in pairs:
        a = idx.append_message(None, "user", user)
        idx.append_message(a.session_id, "assistant", assistant)
        ids[user] = a.message.id
    idx.flush()
    embed_all(idx)
    return ids


def test_search_embeds_the_query_without_the_vaults_common_words(index: Indexer) -> None:
    """Semantic search scores a message by its cosine with the query embedded without
    "alice", which 47 of the 48 messages hold; keyword search still needs the word."""
    target = "alice: the kettle needs descaling with vinegar"
    pairs = [
        (f"alice: topic number {i} about gardening {i}", f"noted, alice {i}") for i in range(23)
    ]
    ids = _store(index, [*pairs, (target, "citric acid works too")])
    hit = index.search("alice kettle descaling", mode="semantic", limit=1).hits[0]
    assert hit.message_id == ids[target]
    assert abs(hit.score - _cosine(index, "kettle descaling", target)) < 1e-5
    assert abs(hit.score - _cosine(index, "alice kettle descaling", target)) > 1e-3
    hybrid = index.search("alice kettle descaling", mode="hybrid", limit=1).hits[0]
    assert hybrid.message_id == ids[target] and "keyword" in hybrid.found_by
    assert index.search("+alice +descaling", mode="keyword").total == 1


def test_search_in_a_small_vault_embeds_the_query_whole(index: Indexer) -> None:
    target = "alice: the kettle needs descaling with vinegar"
    pairs = [(f"alice: topic number {i} about gardening {i}", f"noted {i}") for i in range(5)]
    ids = _store(index, [*pairs, (target, "citric acid works too")])
    hit = index.search("alice kettle descaling", mode="semantic", limit=1).hits[0]
    assert hit.message_id == ids[target]
    assert abs(hit.score - _cosine(index, "alice kettle descaling", target)) < 1e-5
