"""How hybrid's rule at depth was chosen (docs/retrieval.md, "At depth"): variants of the
candidate depth, what a side's miss counts, the neighbour lift's window and get_context's
neighbour lag, each measured through the tools by bench/locomo.py (hybrid search and
get_context, in process), against the rule before the change.

    python -m bench.depth [--out bench/results/depth] [--variants old,taken,...]
                          [--data DIR]

The vaults of `<out>/work/` are stored once (bench/locomo.py) and shared by every variant.
Reported per variant: hybrid recall@10, get_context's evidence coverage at 1,000 and 2,000
tokens, and each one's difference from the first variant with a 95% paired-bootstrap CI.
Results: `<out>/depth.json` and the table on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .locomo import BUDGETS, DATA, _mean, _paired_ci, _recall, run_locomo_bench

__all__ = ("VARIANTS", "Variant", "main", "measure")


@dataclass(frozen=True)
class Variant:
    candidates: int  # per side, before fusion
    miss: str  # what a side's miss counts: "last" (its last candidate) or "mean" (z = 0)
    window: int  # neighbour lift: turns on each side
    lag: int  # get_context: a neighbour's priority is its hit's rank plus this


VARIANTS: dict[str, Variant] = {
    "old": Variant(100, "mean", 1, 10),
    "taken": Variant(150, "last", 2, 20),
    "lag20": Variant(100, "mean", 1, 20),
    "window2_lag20": Variant(100, "mean", 2, 20),
    "depth200_last_lag20": Variant(200, "last", 1, 20),
    "last_window2_lag20": Variant(100, "last", 2, 20),
    "taken_depth200": Variant(200, "last", 2, 20),
    "taken_lag10": Variant(150, "last", 2, 10),
    "taken_lag30": Variant(150, "last", 2, 30),
    "taken_window3": Variant(150, "last", 3, 20),
}


def _fuse_mean(
    keyword: Sequence[tuple[Hashable, float]],
    semantic: Sequence[tuple[Hashable, float]],
    semantic_weight: float = 1.0,
) -> dict[Hashable, float]:
    """The rule before the change: a side that did not find a key adds nothing (z = 0)."""
    from indexer.fusion import zscores

    fused = dict(zscores(keyword))
    for key, z in zscores(semantic).items():
        fused[key] = fused.get(key, 0.0) + semantic_weight * z
    return fused


@contextlib.contextmanager
def _applied(variant: Variant) -> Iterator[None]:
    """The variant's constants in the indexer modules the in-process server uses."""
    from indexer import context, retrieval

    if variant.miss not in ("last", "mean"):
        raise ValueError(f"unknown miss rule: {variant.miss}")
    changes: list[tuple[Any, str, Any]] = [
        (retrieval, "CANDIDATES", variant.candidates),
        (retrieval, "NEIGHBOUR_WINDOW", variant.window),
        (context, "NEIGHBOUR_LAG", variant.lag),
    ]
    if variant.miss == "mean":
        changes.append((retrieval, "fuse", _fuse_mean))
    saved = [(module, name, getattr(module, name)) for module, name, _ in changes]
    try:
        for module, name, value in changes:
            setattr(module, name, value)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def _per_question(answers: list[dict[str, Any]]) -> dict[str, list[float]]:
    out = {"recall@10": [_recall(a["hybrid"]["ranked"], a["evidence"], 10) for a in answers]}
    for budget in BUDGETS:
        key = f"context_{budget}"
        out[key] = [len(set(a[key]) & set(a["evidence"])) / len(a["evidence"]) for a in answers]
    return out


def measure(
    variants: dict[str, Variant], out_dir: Path, data: Path = DATA
) -> dict[str, dict[str, Any]]:
    """Each variant through bench.locomo (hybrid and get_context, no stdio phase); the
    figures and their paired differences from the first variant."""
    work = out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    scored: dict[str, dict[str, list[float]]] = {}
    for name, variant in variants.items():
        run_dir = out_dir / "variants" / name
        run_dir.mkdir(parents=True, exist_ok=True)
        link = run_dir / "work"
        if not link.is_symlink():
            link.symlink_to(work.resolve(), target_is_directory=True)
        with _applied(variant):
            run_locomo_bench(run_dir, data=data, modes=("hybrid",), stdio=False)
        answers = json.loads((run_dir / "answers.json").read_text())
        scored[name] = _per_question(answers)
    first = next(iter(scored.values()))
    result: dict[str, dict[str, Any]] = {}
    for name, figures in scored.items():
        row: dict[str, Any] = {"variant": asdict(variants[name])}
        for metric, values in figures.items():
            row[metric] = _mean(values)
            row[f"{metric}_minus_first"] = _paired_ci(
                [v - f for v, f in zip(values, first[metric], strict=True)]
            )
        result[name] = row
    return result


def table(result: dict[str, dict[str, Any]]) -> str:
    metrics = ["recall@10", *(f"context_{b}" for b in BUDGETS)]
    lines = [f"{'variant':<22}" + "".join(f"{m:>34}" for m in metrics)]
    for name, row in result.items():
        cells = []
        for m in metrics:
            ci = row[f"{m}_minus_first"]
            cells.append(
                f"{row[m]:.3f} ({ci['mean']:+.3f} [{ci['ci95_low']:+.3f}, {ci['ci95_high']:+.3f}])"
            )
        lines.append(f"{name:<22}" + "".join(f"{c:>34}" for c in cells))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/depth"))
    parser.add_argument("--data", type=Path, default=DATA, help="folder of LoCoMo *.json files")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated; the first is the base"
    )
    args = parser.parse_args(argv)
    logging.getLogger("codearchitect").setLevel(logging.WARNING)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        parser.error(f"unknown variants: {', '.join(unknown) or '(none)'}")
    load_before = os.getloadavg()
    result = measure({n: VARIANTS[n] for n in names}, args.out, args.data)
    report = {"load": [round(x, 2) for x in (*load_before, *os.getloadavg())], "results": result}
    (args.out / "depth.json").write_text(json.dumps(report, indent=2))
    print(table(result))
    print(f"\nload {report['load']}; {args.out / 'depth.json'}")


if __name__ == "__main__":
    main()
