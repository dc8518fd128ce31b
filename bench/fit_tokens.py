"""Fit the token estimate's weights (indexer/tokens.py `WEIGHTS`) by a linear program.

    python -m bench.fit_tokens [--sharegpt 60000] [--margin 0.94]

Needs the three references (`make bench-tokens` installs them) and scipy (the bench
extra). The texts are those `python -m bench.tokens` measures (bench/tokens.py `texts`:
ShareGPT's first `--sharegpt` messages and the rest of the shared data), each twice: as
stored, and JSON-escaped as get_context prices it (indexer/context_cost.py). For each text
`indexer.tokens.piece_counts` gives how many pieces of each kind it holds; the weights are
the solution (HiGHS, through scipy.optimize.linprog) of

    minimise    the sum of every text's estimate (pieces x weights)
    subject to  every text's estimate >= margin x the largest of its three reference counts
                each weight >= its floor (`floors`)

The floors are what the data of the fit cannot be trusted to say: a piece that is at least
one token in every reference (a known word, a digit group, a run of spaces or tabs) never
costs less than the margin, a JSON escape (`\\n`, two tokens in claude-legacy) twice it;
non-ASCII characters, rare in the fit but costly (emoji, rare CJK, mathematical letters),
keep the per-character weights of the previous fit. The margin above the rule's 0.9 is for
texts outside the fit: ShareGPT's messages after the first `--sharegpt` are left out of it,
and `python -m bench.tokens --held-out` measures them.

It prints the weights as `WEIGHTS` is written in indexer/tokens.py; put them there, then
check with `python -m bench.tokens --held-out` (and `--escaped`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence

from indexer.tokens import _KINDS, piece_counts

from .tokens import references, texts

MARGIN = 0.94

__all__ = ("fit", "floors", "main")


def floors(margin: float) -> dict[str, float]:
    """The least weight of each kind that has one (see the module's docstring)."""
    return {
        **{kind: margin for kind in ("eknown", "oknown", "digits", "sdigits", "spaces", "blank")},
        "escape": 2 * margin,
        # per character, as fitted before the known words (a four-byte character: 3 tokens)
        "latin": 1.62,
        "greek": 1.6,
        "two": 1.16,
        "cjk": 2.01,
        "three": 2.56,
        "four": 3.0,
    }


def fit(rows: list[list[float]], need: list[float], least: dict[str, float]) -> dict[str, float]:
    """The weights of the smallest total estimate with `rows` x weights >= `need` per row."""
    import numpy as np
    from scipy import sparse
    from scipy.optimize import linprog

    a = np.asarray(rows, dtype=float)
    result = linprog(
        a.sum(axis=0),
        A_ub=-sparse.csr_matrix(a),
        b_ub=-np.asarray(need, dtype=float),
        bounds=[(least.get(kind, 0.0), None) for kind in _KINDS],
        method="highs",
    )
    if result.status != 0:
        raise SystemExit(f"bench.fit_tokens: the linear program failed: {result.message}")
    # rounded up at the 4th decimal, so the rounding never lowers an estimate
    return {
        k: round(float(np.ceil(x * 10_000 - 1e-6)) / 10_000, 4)
        for k, x in zip(_KINDS, result.x, strict=True)
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fit_tokens", description=__doc__)
    parser.add_argument("--sharegpt", type=int, default=60_000, help="ShareGPT messages fitted")
    parser.add_argument("--margin", type=float, default=MARGIN, help="estimate / largest count")
    args = parser.parse_args(argv)
    refs, missing = references()
    if len(refs) < 3:
        raise SystemExit("bench.fit_tokens: needs all three references:\n  " + "\n  ".join(missing))
    start = time.perf_counter()
    bodies = [t for _, t in texts(args.sharegpt)]
    bodies += [json.dumps(t, ensure_ascii=False)[1:-1] for t in bodies]
    counts = [ref.count(bodies) for ref in refs]
    largest = [max(c) for c in zip(*counts, strict=True)]
    rows = [piece_counts(t) for t, m in zip(bodies, largest, strict=True) if m > 0]
    need = [args.margin * m for m in largest if m > 0]
    weights = fit(rows, need, floors(args.margin))
    print(
        f"{len(rows):,} texts (as stored and JSON-escaped), margin {args.margin}, "
        f"load {[round(x, 2) for x in os.getloadavg()]}, {time.perf_counter() - start:.0f} s"
    )
    print("WEIGHTS: dict[str, float] = {")
    line = "   "
    for kind in _KINDS:
        item = f' "{kind}": {weights[kind]},'
        if len(line) + len(item) > 96:
            print(line)
            line = "   "
        line += item
    print(line)
    print("}  # fmt: skip")


if __name__ == "__main__":
    main()
