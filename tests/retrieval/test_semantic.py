"""The semantic pipeline with the tiny deterministic model: the setting, background
embedding, filters, fusion, cache reuse, deletions and the default mode."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from indexer import Indexer
from indexer.fusion import fuse, lift_by_neighbours
from indexer.semantic import HashEmbedder, read_config, write_config
from vault import InvalidInput

from .conftest import embed_all


def _conversation(idx: Indexer, user: str, assistant: str, **kwargs: Any) -> tuple[str, str, str]:
    a = idx.append_message(None, "user", user, **kwargs)
    b = idx.append_message(a.session_id, "assistant", assistant)
    return a.session_id, a.message.id, b.message.id


def test_setting_round_trips_and_keeps_other_keys(index: Indexer) -> None:
    path = index.vault.dir / "config.json"
    path.write_text('{"other": 1, "semantic": {"enabled": false, "model": "hash"}}')
    assert not read_config(index.vault.dir).enabled
    write_config(index.vault.dir, enabled=True)
    assert read_config(index.vault.dir).enabled and read_config(index.vault.dir).model == "hash"
    assert '"other": 1' in path.read_text()


def test_embeds_newest_first_in_batches_and_reports_progress(index: Indexer) -> None:
    ids = [
        index.append_message("s1", "user", f"message number {i} about kettles").message.id
        for i in range(5)
    ]
    status = index.status().semantic
    assert status["embedded"] == 0 and status["pending"] == 5
    assert index.embed_pending(batch=2) == 2
    with index.mirror.read() as conn:
        done = {
            r[0] for r in conn.execute("SELECT m.id FROM vec_msgs v JOIN messages m ON m.pk = v.pk")
        }
    assert done == set(ids[-2:])  # the two newest
    embed_all(index)
    status = index.status().semantic
    assert status["embedded"] == 5 and status["pending"] == 0 and status["lag_seconds"] == 0.0
    assert status["vector_rows"] == 5 and status["vector_bytes"] == 5 * 64 * 4
    # On disk: the float32 rows and whatever copies the store keeps, as the files are now.
    vectors_dir = index.vault.index_dir / "vectors"
    on_disk = sum(p.stat().st_size for p in vectors_dir.iterdir() if p.suffix != ".sqlite3")
    assert status["vector_bytes"] <= status["vector_disk_bytes"] <= on_disk


def test_semantic_results_obey_every_filter(index: Indexer) -> None:
    s1, u1, a1 = _conversation(
        index, "kettle descaling with vinegar", "use citric acid for the kettle"
    )
    key = {
        "agent_id": "claude",
        "channel": "cli",
        "account_id": "me",
        "peer_kind": "user",
        "peer_id": "bo",
    }
    session, _ = index.get_or_create_session(key)
    index.append_message(session.id, "user", "kettle descaling once more")
    embed_all(index)

    def ids(**f):
        return {h.message_id for h in index.search("kettle descaling", mode="semantic", **f).hits}

    assert {u1, a1} <= ids()
    assert ids(session_id=s1) == {u1, a1}
    assert ids(role="assistant") == {a1}
    assert ids(agent_id="claude") == {index.get_messages(session.id)[0].id}
    assert ids(after="2200-01-01T00:00:00Z") == set()
    assert ids(before="2000-01-01T00:00:00Z") == set()
    for hit in index.search("kettle descaling", mode="semantic", role="user").hits:
        assert hit.role == "user" and hit.found_by == ("semantic",)


def test_fusion_adds_z_scores_and_lifts_by_the_best_neighbour() -> None:
    fused = fuse([("a", 3.0), ("b", 1.0)], [("b", 0.9), ("c", 0.1)])
    # z-scores: keyword a 1, b -1; semantic b 1, c -1. A side that did not find a key
    # counts its last candidate's z-score (-1): a = 1 - 1, b = -1 + 1, c = -1 - 1.
    assert fused == pytest.approx({"a": 0.0, "b": 0.0, "c": -2.0})
    lifted = lift_by_neighbours(fused, {"b": ["a"], "c": ["x"]}, lift=0.5, floor=-1.0)
    # b is lifted by its neighbour a; a and c have no scored neighbour: the floor
    assert lifted == pytest.approx({"a": -0.5, "b": 0.0, "c": -2.5})
    assert fuse([("a", 2.0), ("a", 1.0)], []) == {"a": 0.0}  # the first (best) score counts


def test_a_key_one_side_missed_never_outranks_its_best_on_that_side() -> None:
    """Found by one side only, a key is not counted as that side's average candidate (z 0)
    but as its last one: the key scored at most that there."""
    keyword = [("top", 9.0), ("mid", 5.0), ("low", 1.0)]
    semantic = [("top", 0.9), ("mid", 0.5), ("low", 0.1), ("only_semantic", 0.8)]
    fused = fuse(keyword, semantic)
    assert fused["only_semantic"] < fused["mid"]  # mid: found by both, as high on each
    # a side with no candidates at all (no content word) leaves the other side's order
    alone = fuse([], semantic)
    assert sorted(alone, key=alone.__getitem__) == ["low", "mid", "only_semantic", "top"]


def test_hybrid_brings_the_answer_after_a_matching_question(index: Indexer) -> None:
    _, question, answer = _conversation(
        index, "which colour did the committee pick for the logo?", "teal, after a long vote"
    )
    for i in range(8):
        _conversation(index, f"unrelated chat number {i} about lunch", f"sandwiches {i}")
    embed_all(index)
    hits = index.search("colour committee logo", mode="hybrid", limit=3).hits
    ids = [h.message_id for h in hits]
    assert ids[0] == question and answer in ids  # the answer shares no word with the query
    assert index.search("colour committee logo", mode="keyword").total == 1


def test_hybrid_lifts_an_answer_two_turns_after_the_question(index: Indexer) -> None:
    """The neighbour lift reaches two turns: an answer that comes after an interjection
    rises with the question that matches."""
    question = index.append_message(None, "user", "which colour did the committee pick?")
    sid = question.session_id
    index.append_message(sid, "assistant", "let me check the minutes")
    answer = index.append_message(sid, "assistant", "teal, after a long vote").message.id
    for i in range(8):
        _conversation(index, f"unrelated chat number {i} about lunch", f"sandwiches {i}")
    for i in range(3):  # each matches a query word; lifted by one turn it outranks the answer
        _conversation(index, f"the colour chart, page {i}", f"noted, page {i}")
    embed_all(index)
    ids = [h.message_id for h in index.search("colour committee", mode="hybrid", limit=4).hits]
    assert ids[0] == question.message.id and answer in ids


def test_hybrid_fuses_and_says_who_found_each_hit(index: Indexer) -> None:
    _conversation(index, "zebra crossing rules", "pedestrians first at a zebra crossing")
    _conversation(index, "how to descale a kettle", "vinegar or citric acid")
    embed_all(index)
    result = index.search("zebra kettle", mode="hybrid", limit=10)
    assert result.mode == "hybrid"
    assert {h.found_by for h in result.hits} >= {("semantic",)}
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    both = [
        h
        for h in index.search("zebra", mode="hybrid").hits
        if h.found_by == ("keyword", "semantic")
    ]
    assert both and both[0].highlights  # keyword hits keep their highlighted snippet
    # a query that is not valid keyword syntax still works as plain words
    assert index.search('"unclosed zebra', mode="hybrid").hits


def test_hybrid_makes_the_keyword_snippet_of_every_hit_it_returns(index: Indexer) -> None:
    """The keyword side's candidates get their snippet only when returned: each keyword
    hit of any page has the snippet keyword mode gives that message."""
    for i in range(12):
        _conversation(index, f"note {i}: the zebra crossing near school {i}", f"noted {i}")
    embed_all(index)
    keyword = {
        h.message_id: h for h in index.search("zebra crossing", mode="keyword", limit=50).hits
    }
    for offset in (0, 4):
        page = index.search("zebra crossing", mode="hybrid", limit=4, offset=offset).hits
        found = [h for h in page if "keyword" in h.found_by]
        assert found
        for hit in found:
            start, end = hit.highlights[0]
            assert hit.snippet[start:end] == "zebra"
            assert hit.snippet == keyword[hit.message_id].snippet


def test_default_mode_is_hybrid_only_when_on_and_caught_up(index: Indexer) -> None:
    sid, _, _ = _conversation(index, "alpha beta", "gamma delta")
    assert index.search("alpha").mode == "keyword"  # nothing embedded yet
    embed_all(index)
    assert index.search("alpha").mode == "hybrid"
    index.append_message("other", "user", "alpha again")
    assert index.search("alpha").mode == "keyword"  # one message not embedded
    assert index.search("alpha", session_id=sid).mode == "hybrid"  # caught up for those
    write_config(index.vault.dir, enabled=False)
    assert index.search("alpha").mode == "keyword"
    with pytest.raises(InvalidInput, match="semantic enable"):
        index.search("alpha", mode="semantic")
    with pytest.raises(InvalidInput):
        index.search("alpha", mode="fuzzy")


def test_rebuild_reuses_the_cache_and_deleting_it_costs_only_time(index: Indexer) -> None:
    for i in range(6):
        _conversation(index, f"question {i} about lighthouses", f"answer {i} about keepers")
    embed_all(index)
    calls = index.semantic.embed_calls
    assert calls == 12
    index.rebuild()
    assert index.status().semantic["pending"] == 12
    embed_all(index)
    assert index.semantic.embed_calls == calls  # re-read markdown, embedded nothing
    assert index.status().semantic["embedded"] == 12
    before = [
        h.message_id for h in index.search("lighthouse keepers", mode="semantic", limit=12).hits
    ]
    index.close()
    shutil.rmtree(index.vault.index_dir / "vectors")
    again = Indexer(index.vault.root, embedder=HashEmbedder()).open()
    try:
        assert again.search("lighthouse", mode="semantic").hits == ()  # store gone: nothing
        embed_all(again)
        assert again.semantic.embed_calls == 12
        after = [
            h.message_id for h in again.search("lighthouse keepers", mode="semantic", limit=12).hits
        ]
        assert after == before
    finally:
        again.close()


def test_deleted_and_edited_messages_never_come_back(index: Indexer) -> None:
    sid, u1, _a1 = _conversation(index, "the quokka habitat question", "quokkas live on Rottnest")
    _conversation(index, "unrelated pasta", "boil water")
    embed_all(index)
    assert u1 in {h.message_id for h in index.search("quokka habitat", mode="semantic").hits}
    index.delete_message(u1)
    found = {h.message_id for h in index.search("quokka habitat", mode="semantic", limit=50).hits}
    assert u1 not in found
    # an outside edit replaces the text: the old vectors go with the old row
    path = index.vault.locate(sid)
    path.write_text(path.read_text().replace("quokkas live on Rottnest", "penguins swim fast"))
    index.reconcile()
    hits = index.search("quokkas Rottnest", mode="semantic", limit=50).hits
    assert all("Rottnest" not in h.snippet for h in hits)
    embed_all(index)
    hits = index.search("penguins swim", mode="semantic", limit=1).hits
    assert hits[0].snippet == "penguins swim fast"
    index.delete_session(sid)
    assert all(h.session_id != sid for h in index.search("penguins", mode="hybrid", limit=50).hits)


def test_long_message_scores_by_its_best_chunk(vault_root: Path) -> None:
    idx = Indexer(vault_root, embedder=HashEmbedder(max_words=4)).open()
    try:
        write_config(idx.vault.dir, enabled=True, model="hash")
        filler = " ".join(f"filler{i}" for i in range(40))
        long = idx.append_message(
            "s", "assistant", f"{filler} the walrus tusk ivory {filler}"
        ).message.id
        idx.append_message("s", "assistant", "something about seals and ice")
        embed_all(idx)
        with idx.mirror.read() as conn:
            assert (
                conn.execute("SELECT chunks FROM vec_msgs ORDER BY chunks DESC").fetchone()[0] > 10
            )
        hit = idx.search("walrus tusk ivory", mode="semantic", limit=1).hits[0]
        assert hit.message_id == long and "walrus" in hit.snippet
    finally:
        idx.close()


def test_a_started_leader_embeds_in_the_background(vault_root: Path) -> None:
    idx = Indexer(vault_root, embedder=HashEmbedder())
    idx.open()
    write_config(idx.vault.dir, enabled=True, model="hash")
    idx.start()
    try:
        mid = idx.append_message(None, "user", "background embedding of a heron").message.id
        deadline = time.monotonic() + 20
        while idx.status().semantic["pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert idx.status().semantic["embedded"] == 1
        assert idx.search("heron").mode == "hybrid"
        assert idx.search("heron", mode="semantic").hits[0].message_id == mid
    finally:
        idx.close()
