"""How the keyword ranking rule was chosen: variants of `indexer.query.Ranking` measured on
the LoCoMo questions (bench/locomo.py's vaults) and the ShareGPT/oasst tasks
(bench/retrieval.py's), keyword mode only, in process (docs/indexing.md).

    python -m bench.ranking [--out bench/results/ranking] [--variants base,no_stem,...]
                            [--extra '{"name": {"coord_bonus": 2.0}}']

Each variant is scored by LoCoMo recall@10 and zero-hit share, and MRR@10 / recall@10 on
the three retrieval tasks; the textbook BM25 of bench/bm25.py is the LoCoMo reference row.
The LoCoMo vaults are stored first (through the tools) when missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from indexer.query import RANKING, Ranking

from .bm25 import Bm25
from .locomo import DATA as LOCOMO_DATA
from .locomo import load_conversation, run_locomo_bench

VARIANTS: dict[str, Ranking] = {
    "base": RANKING,
    "bm25_any": Ranking(stem=0, heading=0, phrase=0, pair=0, coord_bonus=0),
    "no_stem": replace(RANKING, stem=0),
    "stem_0.5": replace(RANKING, stem=0.5),
    "no_heading": replace(RANKING, heading=0),
    "heading_0.4": replace(RANKING, heading=0.4),
    "heading_1": replace(RANKING, heading=1.0),
    "no_pair": replace(RANKING, pair=0),
    "pair_0.5": replace(RANKING, pair=0.5),
    "pair_2": replace(RANKING, pair=2.0),
    "slop_0": replace(RANKING, slop=0),
    "slop_5": replace(RANKING, slop=5),
    "no_coord": replace(RANKING, coord_bonus=0),
    "coord_bonus_1": replace(RANKING, coord_bonus=1.0),
    "coord_bonus_5": replace(RANKING, coord_bonus=5.0),
    "coord_share_0.4": replace(RANKING, coord_share=0.4),
    "coord_share_0.75": replace(RANKING, coord_share=0.75),
    "coord_all": replace(RANKING, coord_share=1.0),
    "coord_tier": replace(RANKING, coord_bonus=100.0),
}


def _locomo_sets(work: Path) -> list[tuple[Path, list[tuple[str, list[str]]], dict[str, str]]]:
    out = []
    for path in sorted(LOCOMO_DATA.glob("*.json")):
        conv = load_conversation(path)
        root = work / conv.name
        ids = json.loads((root / "ids.json").read_text())
        out.append((root, [(q.text, list(q.evidence)) for q in conv.questions], ids))
    return out


def _search(index: Any, text: str, ranking: Ranking) -> list[str]:
    from indexer.query import natural_query

    fulltext = index.fulltext
    known = fulltext.vocabulary(index.mirror)
    query = natural_query(text, fulltext.schema, fulltext.analyzer, ranking, known)
    if query is None:
        return []
    hits = fulltext.search(index.mirror, query, [], limit=10, offset=0, count=False).hits
    return [f"{h.session_id}/{h.message_id}" for h in hits]


def measure(variants: dict[str, Ranking], locomo_work: Path, tasks_work: Path) -> dict[str, Any]:
    from indexer import Indexer

    from .retrieval import _build, _tasks

    result: dict[str, Any] = {v: {} for v in variants}
    # LoCoMo
    recalls: dict[str, list[float]] = {v: [] for v in variants}
    zero: dict[str, int] = {v: 0 for v in variants}
    bm25_recall: list[float] = []
    times: dict[str, list[float]] = {v: [] for v in variants}
    for root, questions, ids in _locomo_sets(locomo_work):
        index = Indexer(root).open()
        index.flush()
        try:
            turns = list(ids.values())
            with index.mirror.read() as conn:
                content = {
                    f"{r[0]}/{r[1]}": r[2]
                    for r in conn.execute("SELECT session_id, id, content FROM messages")
                }
            bm = Bm25([content[k] for k in ids])
            for text, evidence in questions:
                top = [turns[i] for i in bm.top(text, 10)]
                bm25_recall.append(len(set(top) & set(evidence)) / len(evidence))
                for name, ranking in variants.items():
                    start = time.perf_counter()
                    got = [ids.get(k, "?") for k in _search(index, text, ranking)]
                    times[name].append((time.perf_counter() - start) * 1000)
                    zero[name] += not got
                    recalls[name].append(len(set(got) & set(evidence)) / len(evidence))
        finally:
            index.close()
    n = len(bm25_recall)
    for name in variants:
        result[name]["locomo_recall@10"] = round(statistics.fmean(recalls[name]), 4)
        result[name]["locomo_zero_hit"] = round(zero[name] / n, 4)
        result[name]["locomo_p50_ms"] = round(statistics.median(times[name]), 2)
    result["bm25_textbook"] = {"locomo_recall@10": round(statistics.fmean(bm25_recall), 4)}
    # ShareGPT / oasst
    for task, (queries, docs) in _tasks(500, 3000).items():
        index = _build(tasks_work / task.split("_")[0], docs)
        try:
            for name, ranking in variants.items():
                rr, rec = [], []
                for query, relevant in queries:
                    got = [k.rsplit("/", 1)[1][1:] for k in _search(index, query, ranking)]
                    rr.append(next((1 / (i + 1) for i, g in enumerate(got) if g in relevant), 0.0))
                    rec.append(len(relevant & set(got)) / len(relevant))
                result[name][f"{task}_mrr@10"] = round(statistics.fmean(rr), 4)
                result[name][f"{task}_recall@10"] = round(statistics.fmean(rec), 4)
        finally:
            index.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/ranking"))
    parser.add_argument("--locomo", type=Path, default=Path("bench/results/locomo"))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--extra",
        default="{}",
        help='more variants as JSON: {"name": {"coord_bonus": 2.0, ...}} (changes to base)',
    )
    args = parser.parse_args()
    chosen = {v: VARIANTS[v] for v in args.variants.split(",") if v}
    for name, changes in json.loads(args.extra).items():
        chosen[name] = replace(RANKING, **changes)
    if not (args.locomo / "work").is_dir():
        run_locomo_bench(args.locomo, modes=("keyword",), context=False)
    args.out.mkdir(parents=True, exist_ok=True)
    result = measure(chosen, args.locomo / "work", args.out / "work")
    report = {
        "variants": {k: asdict(v) for k, v in chosen.items()},
        "results": result,
    }
    (args.out / "ranking.json").write_text(json.dumps(report, indent=2))
    cols = [
        "locomo_recall@10",
        "locomo_zero_hit",
        "locomo_p50_ms",
        "sharegpt_mrr@10",
        "sharegpt_short_mrr@10",
        "oasst_mrr@10",
        "oasst_recall@10",
    ]
    print(f"{'variant':<16}" + "".join(f"{c[:18]:>19}" for c in cols))
    for name, row in result.items():
        print(f"{name:<16}" + "".join(f"{row.get(c, ''):>19}" for c in cols))


if __name__ == "__main__":
    main()
