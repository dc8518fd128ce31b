"""The vector store: the int8 prefilter against exact search, compaction of dead rows
(with readers that keep reading), and rebuilds that find every vector in the cache."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from indexer import Indexer
from indexer.semantic import HashEmbedder, nearest, write_config
from indexer.semantic import store as vector_store
from indexer.semantic import view as vector_view
from indexer.semantic.models import Chunk
from indexer.semantic.store import text_key, text_key_function
from indexer.semantic.view import VectorView, quantise, train_projection

from .conftest import embed_all

TOPICS = (
    "kettle descaling vinegar citric acid limescale",
    "zebra crossing pedestrians traffic lights",
    "rotate jwt signing keys without downtime",
    "sourdough starter hydration and flour",
    "postgres vacuum autovacuum bloat tuning",
    "penguins swim fast in cold water",
    "nginx reverse proxy websocket upgrade headers",
    "garden tomatoes blight and watering",
)


class CountingEmbedder(HashEmbedder):
    """The tiny model, counting how often it tokenises and embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.chunk_calls = 0
        self.embedded = 0

    def chunks(self, text: str) -> list[Chunk]:
        self.chunk_calls += 1
        return super().chunks(text)

    def embed(self, texts: Sequence[str]) -> Any:
        self.embedded += len(texts)
        return super().embed(texts)


def _fill(idx: Indexer, n: int = 240) -> list[str]:
    ids = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)].split()
        words = [topic[(i * 7 + j) % len(topic)] for j in range(3 + i % 5)]
        role = "user" if i % 3 else "assistant"
        ids.append(idx.append_message(f"s{i % 12}", role, f"{' '.join(words)} note {i}").message.id)
    embed_all(idx)
    return ids


def _ranked(idx: Indexer, query: str, **filters: Any) -> list[tuple[str, float]]:
    hits = idx.search(query, mode="semantic", limit=10, **filters).hits
    return [(h.message_id, round(h.score, 5)) for h in hits]


QUERIES = ("kettle limescale", "jwt keys downtime", "penguins cold", "tomatoes watering note")


def test_int8_scores_track_exact_scores() -> None:
    rng = np.random.default_rng(5)
    exact = rng.standard_normal((3000, 64)).astype(np.float32)
    exact /= np.linalg.norm(exact, axis=1, keepdims=True)
    codes, scales = quantise(exact)
    view = VectorView(exact, codes[:2500], scales[:2500])  # the last rows not quantised yet
    for q in exact[:20]:
        approx = view.approximate(q)
        assert np.abs(approx - exact @ q).max() < 0.02
        assert np.array_equal(approx[2500:], exact[2500:] @ q)  # the tail: float32
        best = np.argsort(-(exact @ q))[:10]
        assert set(best) <= set(np.argpartition(-approx, 40)[:40])


def test_prefilter_returns_what_exact_search_returns(
    index: Indexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(index)
    exact = {q: _ranked(index, q) for q in QUERIES}
    exact_role = {q: _ranked(index, q, role="assistant") for q in QUERIES}
    monkeypatch.setattr(nearest, "PREFILTER_MIN_ROWS", 0)  # int8 first pass on every query
    monkeypatch.setattr(nearest, "PREFILTER_EXTRA", 0)  # rescoring only 3 x 10 + 32 of 240
    monkeypatch.setattr(nearest, "SELECTIVE_ROWS", 5)  # the role filter counts as broad
    for q in QUERIES:
        assert _ranked(index, q) == exact[q]
        assert _ranked(index, q, role="assistant") == exact_role[q]
    assert index.search("kettle", mode="semantic", session_id="s3").hits  # a selective one


def test_compaction_drops_dead_rows_and_keeps_results(vault_root: Any) -> None:
    model = CountingEmbedder()
    idx = Indexer(vault_root, embedder=model).open()
    reader = None
    try:
        write_config(idx.vault.dir, enabled=True, model="hash")
        ids = _fill(idx, 120)
        for mid in ids[::4]:
            idx.delete_message(mid)
        idx.append_message("s1", "user", "a text about lighthouses")
        embed_all(idx)
        path = idx.vault.locate("s1")
        path.write_text(path.read_text().replace("about lighthouses", "about keepers"))
        idx.reconcile()
        embed_all(idx)
        before = {q: _ranked(idx, q) for q in QUERIES}
        reader = Indexer(vault_root, embedder=HashEmbedder()).open()  # another process
        assert {q: _ranked(reader, q) for q in QUERIES} == before
        rows = idx.status().semantic["vector_rows"]
        with idx.mirror.read() as conn:
            live = conn.execute("SELECT count(DISTINCT row) FROM vec_rows").fetchone()[0]
        assert live < rows  # deleted and replaced texts left dead rows behind

        assert idx.semantic.compact(min_dead=10_000) is None  # too few dead rows
        done = idx.semantic.compact()
        assert done == {"rows_before": rows, "rows_after": live}
        assert idx.status().semantic["vector_rows"] == live
        files = sorted(p.name for p in idx.semantic.store().directory.glob("vectors*"))
        assert files == ["vectors.g1.f32", "vectors.g1.i8", "vectors.g1.scale"]
        assert {q: _ranked(idx, q) for q in QUERIES} == before
        assert {q: _ranked(reader, q) for q in QUERIES} == before  # it maps the new files
        assert idx.semantic.compact() is None  # nothing dead any more

        # the renumbered cache still serves: new text appends after the live rows, and a
        # rebuild tokenises and embeds nothing
        new = idx.append_message("s2", "assistant", "kettle limescale fresh").message.id
        embed_all(idx)
        # the semantic query leaves out words most messages hold ("note"), counted in the
        # committed full-text index, which the rebuild below commits whole: commit first
        idx.flush()
        assert _ranked(idx, "kettle limescale fresh")[0][0] == new
        after_new = {q: _ranked(idx, q) for q in QUERIES}
        chunk_calls, embedded = model.chunk_calls, model.embedded
        idx.rebuild()
        embed_all(idx)
        assert (model.chunk_calls, model.embedded) == (chunk_calls, embedded)
        assert {q: _ranked(idx, q) for q in QUERIES} == after_new
    finally:
        if reader is not None:
            reader.close()
        idx.close()


def test_compaction_interrupted_before_the_mirror_update_recovers(index: Indexer) -> None:
    ids = _fill(index, 60)
    for mid in ids[:20]:
        index.delete_message(mid)
    embed_all(index)  # the sessions' other messages were read again: found in the cache
    before = {q: _ranked(index, q) for q in QUERIES}
    store = index.semantic.store()
    with index.mirror.read() as conn:
        live = [r[0] for r in conn.execute("SELECT DISTINCT row FROM vec_rows ORDER BY row")]
    assert 0 < len(live) < store.rows
    store.open_writer()
    store.compact(np.array(live))  # the cache moved on; then the process died
    index.semantic.close_writer()
    calls = index.semantic.embed_calls
    embed_all(index)  # the writer finds the mirror on the old generation and re-reads it
    assert index.semantic.embed_calls == calls
    assert {q: _ranked(index, q) for q in QUERIES} == before
    assert index.status().semantic["vector_rows"] == len(live)


def test_warm_rebuild_neither_tokenises_nor_embeds(vault_root: Any) -> None:
    model = CountingEmbedder()
    idx = Indexer(vault_root, embedder=model).open()
    try:
        write_config(idx.vault.dir, enabled=True, model="hash")
        _fill(idx, 80)
        chunk_calls, embedded = model.chunk_calls, model.embedded
        assert embedded > 0
        idx.rebuild()
        assert idx.status().semantic["pending"] == 80
        assert idx.embed_pending(batch=8) == 80  # cached texts do not count against the batch
        assert (model.chunk_calls, model.embedded) == (chunk_calls, embedded)
        assert idx.status().semantic["pending"] == 0
    finally:
        idx.close()


def test_a_message_deleted_while_it_is_embedded_is_not_recorded(vault_root: Any) -> None:
    model = CountingEmbedder()
    idx = Indexer(vault_root, embedder=model).open()
    try:
        write_config(idx.vault.dir, enabled=True, model="hash")
        keep = idx.append_message("a", "user", "lighthouse keepers at night").message.id
        gone = idx.append_message("b", "user", "a quokka on Rottnest island").message.id
        embed = model.embed

        def embed_and_delete(texts: Sequence[str]) -> Any:
            worker = threading.Thread(target=idx.delete_message, args=(gone,))
            worker.start()  # another thread, its own connection to the mirror
            worker.join()
            return embed(texts)

        model.embed = embed_and_delete  # type: ignore[method-assign]
        idx.embed_pending()
        model.embed = embed  # type: ignore[method-assign]
        with idx.mirror.read() as conn:
            done = {
                r[0] for r in conn.execute("SELECT m.id FROM vec_msgs v JOIN messages m USING (pk)")
            }
        assert done == {keep}
        with idx.mirror.read() as conn:  # nothing recorded for a row that is gone
            assert conn.execute("SELECT count(*) FROM vec_msgs").fetchone()[0] == 1
            assert (
                conn.execute(
                    "SELECT count(*) FROM vec_rows WHERE pk NOT IN (SELECT pk FROM messages)"
                ).fetchone()[0]
                == 0
            )
        assert all(h.message_id != gone for h in idx.search("quokka", mode="semantic").hits)
    finally:
        idx.close()


def test_text_keys_made_in_bulk_match_the_single_ones() -> None:
    many = text_key_function("model/x")
    for text in ("", "hello", "ünïcödé \ud800 surrogate", "x" * 5000):
        assert many(text) == text_key("model/x", text)


def test_caught_up_is_kept_only_until_the_mirror_changes(index: Indexer) -> None:
    index.append_message("s", "user", "alpha beta")
    embed_all(index)
    assert index.search("alpha").mode == "hybrid"
    assert index.search("alpha").mode == "hybrid"  # the kept answer
    index.append_message("s", "user", "alpha gamma")  # this thread's connection
    assert index.search("alpha").mode == "keyword"
    embed_all(index)
    assert index.search("alpha").mode == "hybrid"
    other = threading.Thread(target=index.append_message, args=("t", "user", "alpha delta"))
    other.start()  # another connection commits
    other.join()
    assert index.search("alpha").mode == "keyword"
    assert index.search("alpha", session_id="s").mode == "hybrid"


def _reduced_on(monkeypatch: pytest.MonkeyPatch, rescore: int) -> None:
    """The reduced first pass on the tiny model's 240 rows: trained from 100 rows on,
    whatever energy its 32 dimensions keep, rescoring `rescore` rows."""
    monkeypatch.setattr(vector_store, "REDUCED_MIN_ROWS", 100)
    monkeypatch.setattr(vector_view, "REDUCED_MIN_ENERGY", 0.0)
    monkeypatch.setattr(vector_view, "REDUCED_RESCORE", rescore)


def test_projection_keeps_the_energy_of_structured_rows_not_of_random_ones() -> None:
    rng = np.random.default_rng(9)
    basis = np.linalg.qr(rng.standard_normal((64, 64)))[0][:, :12]
    structured = rng.standard_normal((2000, 12)) @ basis.T + 0.05 * rng.standard_normal((2000, 64))
    structured /= np.linalg.norm(structured, axis=1, keepdims=True)
    matrix, energy = train_projection(structured, 16)
    assert matrix.shape == (64, 16) and energy > 0.95
    noise = rng.standard_normal((2000, 64))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    assert train_projection(noise, 16)[1] < 0.4  # random rows: the pass would not be used
    exact = structured.astype(np.float32)
    codes, scales = quantise(exact)
    reduced, rscales = quantise(exact[:1900] @ matrix)  # the last 100 rows not projected yet
    view = VectorView(exact, codes, scales, reduced, rscales, matrix, energy)
    assert view.has_reduced()
    for q in exact[:20]:
        cand = view.candidates(q, 50)
        assert np.all(np.diff(cand) > 0)
        assert set(range(1900, 2000)) <= set(cand.tolist())  # the tail is always scored
        best = np.argsort(-(exact @ q))[:10]
        assert set(best) <= set(cand.tolist())


def test_reduced_pass_returns_what_exact_search_returns(
    vault_root: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reduced_on(monkeypatch, rescore=120)
    idx = Indexer(vault_root, embedder=HashEmbedder()).open()
    try:
        write_config(idx.vault.dir, enabled=True, model="hash")
        ids = _fill(idx)
        store = idx.semantic.store()
        assert (store.directory / "projection.json").exists()
        monkeypatch.setattr(nearest, "REDUCED", False)
        exact = {q: _ranked(idx, q) for q in QUERIES}
        exact_role = {q: _ranked(idx, q, role="assistant") for q in QUERIES}
        monkeypatch.setattr(nearest, "REDUCED", True)
        monkeypatch.setattr(nearest, "PREFILTER_MIN_ROWS", 0)  # a first pass on every query
        monkeypatch.setattr(nearest, "PREFILTER_EXTRA", 0)
        monkeypatch.setattr(nearest, "SELECTIVE_ROWS", 5)  # the role filter counts as broad
        with idx.mirror.read() as conn:
            view = store.view(*idx.semantic.parse_state(_state(conn), store))  # type: ignore[misc]
        assert view is not None and view.has_reduced() and len(view.reduced) == len(view)
        for q in QUERIES:
            assert _ranked(idx, q) == exact[q]
            assert _ranked(idx, q, role="assistant") == exact_role[q]
        # a filter only a few of the candidates pass falls back to the int8 pass
        monkeypatch.setattr(vector_view, "REDUCED_RESCORE", 0)
        for q in QUERIES:
            assert _ranked(idx, q, session_id="s3") == _ranked_exact(
                idx, monkeypatch, q, session_id="s3"
            )
        # a deleted message never comes back
        top = _ranked(idx, "penguins cold")[0][0]
        assert top in ids
        idx.delete_message(top)
        assert top not in {m for m, _ in _ranked(idx, "penguins cold")}
    finally:
        idx.close()


def _state(conn: Any) -> str | None:
    from indexer.mirror import get_state

    state: str | None = get_state(conn, "vec_store")
    return state


def _ranked_exact(
    idx: Indexer, monkeypatch: pytest.MonkeyPatch, query: str, **filters: Any
) -> list[tuple[str, float]]:
    with monkeypatch.context() as m:
        m.setattr(nearest, "PREFILTER_MIN_ROWS", 1 << 62)
        return _ranked(idx, query, **filters)


def test_compaction_keeps_the_reduced_copy(
    vault_root: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reduced_on(monkeypatch, rescore=120)
    monkeypatch.setattr(nearest, "PREFILTER_MIN_ROWS", 0)
    idx = Indexer(vault_root, embedder=HashEmbedder()).open()
    try:
        write_config(idx.vault.dir, enabled=True, model="hash")
        ids = _fill(idx)
        for mid in ids[::3]:
            idx.delete_message(mid)
        embed_all(idx)
        before = {q: _ranked(idx, q) for q in QUERIES}
        assert idx.semantic.compact() is not None
        files = sorted(p.name for p in idx.semantic.store().directory.glob("vectors*"))
        assert files == [f"vectors.g1.{x}" for x in ("f32", "i8", "r8", "rscale", "scale")]
        assert {q: _ranked(idx, q) for q in QUERIES} == before
        assert {q: _ranked_exact(idx, monkeypatch, q) for q in QUERIES} == before
    finally:
        idx.close()
