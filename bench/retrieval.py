"""Retrieval benchmark: quality (MRR@10, recall@10) of keyword, semantic and hybrid search on
real conversations, and the costs of semantic search (docs/retrieval.md).

    python -m bench.retrieval --size quick|reference --out bench/results/retrieval

`run_retrieval_bench(out_dir, size) -> dict` is the entry point bench/run.py may call.

Tasks, built from ../shared/data/corpus (English, >= 95% ASCII):
- sharegpt: the query is a conversation's first user message, the relevant message its
  first assistant reply, among the replies of the other queries and other assistant
  messages (each cut to 1,000 characters), stored as a vault through the Indexer;
- sharegpt_short: the same, the query cut to its first sentence, at most 8 words;
- oasst: an OpenAssistant root prompt; relevant: all its direct replies, among all 687
  assistant messages.
Costs: embedding throughput (the whole pipeline, ~300-byte messages), semantic and hybrid
query latency at the reference vault size (the generated bench vault, with its vectors
filled with random unit vectors: the cost of a search does not depend on their values,
but which first pass runs does, so the reduced pass is measured again forced on), vector
disk and memory, model memory, a warm-cache rebuild against keyword only, and how often
the reduced first pass keeps the exact best rows on MiniLM-like rows (`reduced`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import resource
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpus"
SIZES: dict[str, dict[str, int]] = {
    "quick": {"queries": 100, "docs": 1000, "latency_sessions": 1000, "latency_queries": 30},
    "reference": {"queries": 500, "docs": 3000, "latency_sessions": 10000, "latency_queries": 50},
}
MODES = ("keyword", "keyword_any", "semantic", "hybrid")


PHASES = ("model", "quality", "throughput", "rebuild", "latency", "reduced")


def run_retrieval_bench(
    out_dir: Path | str, size: str = "quick", only: set[str] | None = None
) -> dict[str, Any]:
    """Run everything (or the phases in `only`); writes `<out_dir>/retrieval.json` and
    returns the same dict. A phase already in `<out_dir>/phases/` is not run again."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params = SIZES[size]
    wanted = set(PHASES) if only is None else only
    from indexer.semantic import nearest

    report: dict[str, Any] = {
        "size": size,
        "cpus": os.cpu_count(),
        "load": _load(),
        "prefilter_min_rows": nearest.PREFILTER_MIN_ROWS,
    }
    if "model" in wanted:
        report["model_memory_mb"] = _phase(out, "model", _model_memory)
    if "quality" in wanted:
        report["quality"] = {}
        for task, (queries, docs) in _tasks(params["queries"], params["docs"]).items():
            root = out / "work" / task.split("_")[0]
            report["quality"][task] = _phase(
                out, task, lambda r=root, t=task, q=queries, d=docs: _quality(r, t, q, d)
            )
    if "throughput" in wanted:
        report["embedding"] = _phase(
            out, "throughput", lambda: _throughput(out / "work" / "throughput")
        )
    if "rebuild" in wanted:
        report["rebuild"] = _phase(
            out, "rebuild", lambda: _rebuild_cost(out / "work" / "sharegpt", params)
        )
    if "latency" in wanted:
        report["latency"] = _phase(
            out, "latency", lambda: _latency(out / "work" / "latency", params)
        )
    if "reduced" in wanted:
        report["reduced_pass_recall"] = _phase(
            out, "reduced", lambda: _reduced_recall(out / "work")
        )
    report["load_after"] = _load()
    (out / "retrieval.json").write_text(json.dumps(report, indent=2))
    return report


def _load() -> list[float]:
    """The load average (1, 5, 15 minutes): the machine is shared."""
    return [round(x, 2) for x in os.getloadavg()]


def _phase(out: Path, name: str, run: Any) -> Any:
    """Each phase's result is kept in <out>/phases/: a rerun resumes where one failed."""
    path = out / "phases" / f"{name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    load = _load()
    result = run()
    if isinstance(result, dict):
        result = {**result, "load_before": load, "load_after": _load()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return result


# ---------------------------------------------------------------------- tasks


def _tasks(n_queries: int, n_docs: int) -> dict[str, tuple[list[tuple[str, set[str]]], list[str]]]:
    rng = random.Random(7)
    convs = []
    seen = set()
    for conv in _sharegpt(4 * n_docs):
        turns = conv.get("conversations") or []
        if len(turns) < 2 or turns[0].get("from") != "human" or turns[1].get("from") != "gpt":
            continue
        prompt, reply = turns[0]["value"].strip(), turns[1]["value"].strip()
        if not prompt or not reply or prompt in seen or not _ascii(prompt + reply):
            continue
        seen.add(prompt)
        convs.append((prompt, reply[:1000], [t["value"][:1000] for t in turns[3::2]]))
    rng.shuffle(convs)
    chosen = convs[:n_queries]
    docs = [r for _, r, _ in chosen]
    for _, _, others in convs[n_queries:]:
        docs.extend(o for o in others if o.strip() and _ascii(o))
        if len(docs) >= n_docs:
            break
    docs = docs[:n_docs]
    long_q = [(p[:1000], {str(i)}) for i, (p, _, _) in enumerate(chosen)]
    short_q = [(_terse(p), {str(i)}) for i, (p, _, _) in enumerate(chosen)]
    oasst_q, oasst_docs = _oasst()
    return {
        "sharegpt": (long_q, docs),
        "sharegpt_short": (short_q, docs),
        "oasst": (oasst_q, oasst_docs),
    }


def _sharegpt(limit: int) -> list[dict[str, Any]]:
    path = DATA / "sharegpt_v3_pypi" / "ShareGPT_V3_unfiltered_cleaned_split.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        raw = fh.read(60_000_000)
    decoder = json.JSONDecoder()
    i, out = raw.index("{"), list[dict[str, Any]]()
    while len(out) < limit:
        try:
            obj, j = decoder.raw_decode(raw, i)
        except ValueError:
            break
        out.append(obj)
        i = raw.find("{", j)
        if i < 0:
            break
    return out


def _oasst() -> tuple[list[tuple[str, set[str]]], list[str]]:
    docs: list[str] = []
    queries = []
    for line in (DATA / "oasst1_en_100_trees" / "en_100_tree.jsonl").open():
        tree = json.loads(line)["prompt"]
        relevant = set()
        stack = [tree]
        while stack:
            node = stack.pop()
            for reply in node.get("replies", []):
                if reply["role"] == "assistant":
                    if node is tree:
                        relevant.add(str(len(docs)))
                    docs.append(reply["text"][:1000])
                stack.append(reply)
        if relevant:
            queries.append((tree["text"][:1000], relevant))
    return queries, docs


def _terse(prompt: str) -> str:
    first = re.split(r"(?<=[.!?])\s|\n", prompt.strip(), maxsplit=1)[0]
    return " ".join(first.split()[:8])


def _ascii(text: str) -> bool:
    return sum(c.isascii() for c in text) >= 0.95 * max(len(text), 1)


# ---------------------------------------------------------------------- quality


def _build(root: Path, docs: list[str], model: str = "minilm") -> Any:
    import hashlib

    from indexer import Indexer
    from indexer.semantic import write_config
    from vault import Message

    digest = hashlib.sha256(json.dumps(docs).encode()).hexdigest()
    if (root / "docs.sha256").is_file() and (root / "docs.sha256").read_text() == digest:
        return Indexer(root).open()  # the same vault: its vectors are reused
    if root.exists():
        shutil.rmtree(root)
    (root / ".git").mkdir(parents=True)
    index = Indexer(root).open()
    write_config(index.vault.dir, enabled=True, model=model)
    for i in range(0, len(docs), 100):
        sid = f"bench-{i // 100:04d}"
        msgs = [
            Message(id=f"d{j}", role="assistant", content=docs[j], created_at=_ts(j))
            for j in range(i, min(i + 100, len(docs)))
        ]
        index.append_messages(sid, msgs)
    index.flush()
    (root / "docs.sha256").write_text(digest)
    return index


def _embed_all(index: Any) -> tuple[int, float]:
    start, total = time.perf_counter(), 0
    while done := index.embed_pending(batch=128):
        total += done
    return total, time.perf_counter() - start


def _quality(
    root: Path, task: str, queries: list[tuple[str, set[str]]], docs: list[str]
) -> dict[str, Any]:
    from indexer.query import natural_query

    reuse = task.endswith("_short") and root.exists()
    index = _reopen(root) if reuse else _build(root, docs)
    try:
        n, seconds = _embed_all(index)
        ranks: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
        for query, relevant in queries:
            for mode in MODES:
                if mode == "keyword_any":
                    q = natural_query(
                        query,
                        index.fulltext.schema,
                        index.fulltext.analyzer,
                        known=index.fulltext.vocabulary(index.mirror),
                    )
                    hits = (
                        index.fulltext.search(index.mirror, q, [], limit=10, offset=0).hits
                        if q is not None
                        else ()
                    )
                else:
                    try:
                        hits = index.search(query, mode=mode, limit=10).hits
                    except Exception:  # a keyword syntax error counts as no hit
                        hits = ()
                got = [h.message_id[1:] for h in hits]
                rr = next((1.0 / (i + 1) for i, g in enumerate(got) if g in relevant), 0.0)
                recall = len(relevant & set(got)) / len(relevant)
                ranks[mode].append((rr, recall))
        result: dict[str, Any] = {"queries": len(queries), "docs": len(docs)}
        for mode, values in ranks.items():
            result[mode] = {
                "mrr@10": round(statistics.fmean(v[0] for v in values), 4),
                "recall@10": round(statistics.fmean(v[1] for v in values), 4),
            }
        best_kw = max(("keyword", "keyword_any"), key=lambda m: result[m]["mrr@10"])
        result["hybrid_minus_best_keyword"] = _paired_ci(
            [h[0] - k[0] for h, k in zip(ranks["hybrid"], ranks[best_kw], strict=True)]
        )
        result["best_keyword"] = best_kw
        if not reuse:
            result["embedded"] = n
            result["embed_seconds"] = round(seconds, 2)
        return result
    finally:
        index.close()


def _paired_ci(diffs: list[float], rounds: int = 2000) -> dict[str, float]:
    rng = random.Random(11)
    means = sorted(statistics.fmean(rng.choice(diffs) for _ in diffs) for _ in range(rounds))
    return {
        "mean": round(statistics.fmean(diffs), 4),
        "ci95_low": round(means[int(0.025 * rounds)], 4),
        "ci95_high": round(means[int(0.975 * rounds)], 4),
    }


def _reopen(root: Path) -> Any:
    from indexer import Indexer

    return Indexer(root).open()


# ---------------------------------------------------------------------- costs


def _throughput(root: Path, count: int = 300) -> dict[str, Any]:
    texts = [t for t in _short_messages(count * 3) if 250 <= len(t.encode()) <= 350][:count]
    shutil.rmtree(root, ignore_errors=True)  # a kept vault would have its vectors already
    index = _build(root, texts)
    try:
        n, seconds = _embed_all(index)
    finally:
        index.close()
    return {
        "messages": n,
        "mean_bytes": round(statistics.fmean(len(t.encode()) for t in texts)),
        "seconds": round(seconds, 2),
        "messages_per_second": round(n / seconds, 1),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }


def _short_messages(limit: int) -> list[str]:
    out = []
    for conv in _sharegpt(20 * limit):
        for turn in conv.get("conversations") or []:
            value = turn.get("value", "")
            if 250 <= len(value.encode()) <= 350 and _ascii(value):
                out.append(value)
        if len(out) >= limit:
            break
    return out


ROUNDS = 5


def _rebuild_cost(root: Path, params: dict[str, int]) -> dict[str, Any]:
    """Rebuild with semantic off, then on with a warm cache (nothing new to embed)."""
    from indexer.semantic import write_config

    _, docs = _tasks(params["queries"], params["docs"])["sharegpt"]
    index = _build(root, docs)  # the quality phase's vault, reused when it is there
    try:
        _embed_all(index)
        keyword, both, vectors = [], [], []
        calls = index.semantic.embed_calls
        for _ in range(ROUNDS):  # alternate: the machine is shared, the first run is colder
            write_config(index.vault.dir, enabled=False)
            start = time.perf_counter()
            index.rebuild()
            index.flush()
            keyword.append(time.perf_counter() - start)
            write_config(index.vault.dir, enabled=True)
            start = time.perf_counter()
            index.rebuild()
            index.flush()
            middle = time.perf_counter()
            _embed_all(index)
            both.append(time.perf_counter() - start)
            vectors.append(time.perf_counter() - middle)
        kw, bo = statistics.median(keyword), statistics.median(both)
        return {
            "rounds": ROUNDS,
            "vector_step_seconds": round(statistics.median(vectors), 3),
            "keyword_only_seconds": round(kw, 3),
            "with_vectors_warm_cache_seconds": round(bo, 3),
            "overhead": round(bo / kw - 1, 3),
            "texts_embedded": index.semantic.embed_calls - calls,
        }
    finally:
        index.close()


def _model_memory() -> float:
    from indexer.semantic.minilm import MiniLM

    before = _rss_mb()
    model = MiniLM.load()
    model.embed(["warm up the model with one sentence"] * 16)
    return round(_rss_mb() - before, 1)


def _latency(work: Path, params: dict[str, int]) -> dict[str, Any]:
    import numpy as np

    from bench.generate import ensure_vault
    from indexer import Indexer
    from indexer.errors import InvalidQuery
    from indexer.filters import MessageFilter
    from indexer.mirror import set_state
    from indexer.semantic import nearest, write_config
    from indexer.semantic import view as vector_view
    from indexer.semantic.minilm import MINILM_ID
    from indexer.semantic.store import VectorStore

    source = ensure_vault(Path(__file__).parent / ".cache", params["latency_sessions"], 40, 7)
    root = work / f"s{params['latency_sessions']}"
    if not (root / ".codearchitect" / "index" / "READY").exists():
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(source, root)
        (root / ".git").mkdir(exist_ok=True)
        index = Indexer(root).open()
        index.rebuild()
        index.flush()
        write_config(index.vault.dir, enabled=True, model="minilm")
        store = VectorStore(index.vault.index_dir, MINILM_ID, 384)
        sid = store.open_writer()
        index.semantic._adopt(store, sid)
        with index.mirror.read() as conn:
            pks = [r[0] for r in conn.execute("SELECT pk FROM messages ORDER BY pk")]
        rng = np.random.default_rng(3)
        for first in range(0, len(pks), 50_000):
            part = pks[first : first + 50_000]
            vecs = rng.standard_normal((len(part), 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            rows = store.append([os.urandom(16) for _ in part], vecs)
            with index.mirror.write() as conn:
                now = time.time_ns()
                conn.executemany(
                    "INSERT INTO vec_msgs VALUES (?, 1, ?)", [(pk, now) for pk in part]
                )
                conn.executemany(
                    "INSERT INTO vec_rows VALUES (?, 0, ?)", list(zip(part, rows, strict=True))
                )
        with index.mirror.write() as conn:
            set_state(conn, "vec_store", f"{MINILM_ID}|{sid}")
        store.close_writer()
        index.close()
        (root / ".codearchitect" / "index" / "READY").write_text("")
    upgrade = VectorStore(root / ".codearchitect" / "index", MINILM_ID, 384)
    upgrade.open_writer()  # what the leader does first: a store from before the int8 copy gets it
    upgrade.close_writer()
    queries = [
        q
        for q, _ in _tasks(params["latency_queries"], params["latency_queries"])["sharegpt_short"][
            0
        ]
    ]
    index = Indexer(root).open()
    try:
        rss0 = _rss_mb()
        index.search("warm up", mode="hybrid")
        result: dict[str, Any] = {"messages": index.count_messages()}

        def modes(names: tuple[str, ...]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for mode in names:
                times = []
                for q in queries:
                    start = time.perf_counter()
                    try:
                        index.search(q, mode=mode, limit=10)
                    except InvalidQuery:  # keyword syntax: an unclosed quote
                        continue
                    times.append((time.perf_counter() - start) * 1000)
                times.sort()
                out[mode] = {
                    "p50_ms": round(times[len(times) // 2], 1),
                    "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
                }
            return out

        result.update(modes(("keyword", "semantic", "hybrid")))
        encode, vector, filtered, exact, same = [], [], [], [], []
        everything, assistant = MessageFilter(), MessageFilter(role="assistant")
        prefilter_min_rows = nearest.PREFILTER_MIN_ROWS
        for q in queries:
            start = time.perf_counter()
            v = index.semantic.encode_query(q)
            encode.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            fast = index.semantic.search(v, everything, 100)
            vector.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            index.semantic.search(v, assistant, 100)
            filtered.append((time.perf_counter() - start) * 1000)
            nearest.PREFILTER_MIN_ROWS = 1 << 62  # the same query, every row in float32
            try:
                start = time.perf_counter()
                slow = index.semantic.search(v, everything, 100)
                exact.append((time.perf_counter() - start) * 1000)
            finally:
                nearest.PREFILTER_MIN_ROWS = prefilter_min_rows
            same.append(len({h.pk for h in fast} & {h.pk for h in slow}))
        result["query_encode_p50_ms"] = round(statistics.median(encode), 1)
        result["vector_search_100_p50_ms"] = round(statistics.median(vector), 1)
        result["vector_search_100_exact_float32_p50_ms"] = round(statistics.median(exact), 1)
        result["vector_search_100_same_as_exact_min"] = min(same)
        result["vector_search_100_role_filter_p50_ms"] = round(statistics.median(filtered), 1)
        # The reduced first pass (semantic/view.py) is not used on these random vectors: 128 of
        # their 384 dimensions keep a third of their energy (MiniLM's keep ~3/4). Its cost
        # does not depend on the values, so it is measured here with the check off; its
        # overlap with exact search here is the worst case, not MiniLM's.
        projection = upgrade.read_projection()
        result["reduced_energy"] = None if projection is None else round(projection[1], 3)
        min_energy = vector_view.REDUCED_MIN_ENERGY
        vector_view.REDUCED_MIN_ENERGY = 0.0
        try:
            forced = modes(("semantic", "hybrid"))
            vector, same = [], []
            for q in queries:
                v = index.semantic.encode_query(q)
                start = time.perf_counter()
                fast = index.semantic.search(v, everything, 100)
                vector.append((time.perf_counter() - start) * 1000)
                nearest.PREFILTER_MIN_ROWS = 1 << 62
                try:
                    slow = index.semantic.search(v, everything, 100)
                finally:
                    nearest.PREFILTER_MIN_ROWS = prefilter_min_rows
                same.append(len({h.pk for h in fast} & {h.pk for h in slow}))
            forced["vector_search_100_p50_ms"] = round(statistics.median(vector), 1)
            forced["vector_search_100_same_as_exact_mean_random_vectors"] = round(
                statistics.fmean(same), 1
            )
            result["reduced_pass_forced"] = forced
        finally:
            vector_view.REDUCED_MIN_ENERGY = min_energy
        status = index.status().semantic
        result["vector_float32_mb"] = round(status["vector_bytes"] / 1e6, 1)
        result["vector_disk_mb"] = round(status["vector_disk_bytes"] / 1e6, 1)
        result["query_process_rss_growth_mb"] = round(_rss_mb() - rss0, 1)
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return result
    finally:
        index.close()


def _reduced_recall(work: Path, fill: int = 100_000, queries: int = 150) -> dict[str, Any]:
    """How often the reduced first pass (indexer/semantic/view.py) keeps the exact best rows, on
    MiniLM-like rows: the quality tasks' real chunk vectors among `fill` rows drawn from a
    Gaussian with their mean and covariance, real chunks as queries. The rows kept are
    1,024 and 4,096 of ~104,000 (the share 4,096 is of the reference size's 398,418)."""
    import numpy as np

    from indexer.semantic import view as vector_view
    from indexer.semantic.minilm import MINILM_ID
    from indexer.semantic.store import model_slug
    from indexer.semantic.view import VectorView, quantise, reduced_dims, train_projection

    real = []
    for task in ("sharegpt", "oasst"):
        path = work / task / ".codearchitect" / "index" / "vectors" / model_slug(MINILM_ID)
        f32 = path / "vectors.f32"
        if f32.is_file():
            real.append(np.fromfile(f32, dtype=np.float32).reshape(-1, 384))
    if not real:
        return {"skipped": "run the quality phase first (its vaults hold the real vectors)"}
    rows = np.vstack(real)
    rng = np.random.default_rng(1)
    cov = np.cov(rows.T) + 1e-6 * np.eye(384)
    drawn = rng.standard_normal((fill, 384)) @ np.linalg.cholesky(cov).T + rows.mean(axis=0)
    drawn /= np.linalg.norm(drawn, axis=1, keepdims=True)
    exact = np.vstack([rows, drawn]).astype(np.float32)
    sample = exact[np.linspace(0, len(exact) - 1, min(len(exact), 65_536)).astype(np.int64)]
    matrix, energy = train_projection(sample, reduced_dims(384))
    reduced, rscales = quantise(exact @ matrix)
    view = VectorView(exact, None, None, reduced, rscales, matrix, energy)
    result: dict[str, Any] = {
        "real_rows": len(rows),
        "rows": len(exact),
        "queries": queries,
        "energy_kept": round(energy, 4),
    }
    rescore = vector_view.REDUCED_RESCORE
    for kept in (1024, 4096):
        r10, r100 = [], []
        vector_view.REDUCED_RESCORE = kept
        try:
            for i in rng.choice(len(rows), queries, replace=False):
                q = exact[i]
                scores = exact @ q
                scores[i] = -9.0  # the query itself
                best = np.argsort(-scores)[:100]
                cand = set(view.candidates(q, kept).tolist()) - {int(i)}
                r10.append(sum(int(b) in cand for b in best[:10]) / 10)
                r100.append(sum(int(b) in cand for b in best) / 100)
        finally:
            vector_view.REDUCED_RESCORE = rescore
        result[f"kept_{kept}"] = {
            "recall@10_mean": round(statistics.fmean(r10), 4),
            "recall@10_min": min(r10),
            "recall@100_mean": round(statistics.fmean(r100), 4),
            "recall@100_min": min(r100),
        }
    return result


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ts(i: int) -> str:
    return f"2025-01-{1 + i // 86400 % 28:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--out", type=Path, default=Path("bench/results/retrieval"))
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated phases to run (default all: {','.join(PHASES)})",
    )
    parser.add_argument(
        "--prefilter-always",
        action="store_true",
        help="use the int8 first pass at every size (quality check of the prefilter)",
    )
    args = parser.parse_args()
    if args.prefilter_always:
        from indexer.semantic import nearest

        nearest.PREFILTER_MIN_ROWS = 0
    only = None
    if args.only:
        only = {p.strip() for p in args.only.split(",") if p.strip()}
        unknown = only - set(PHASES)
        if unknown:
            parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    report = run_retrieval_bench(args.out, args.size, only)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
