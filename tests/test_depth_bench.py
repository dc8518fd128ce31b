"""The at-depth harness (bench/depth.py) on the tiny LoCoMo-shaped file of tests/bench_data:
each variant's constants are in force while it runs and restored after, the old miss rule
is the one retrieval.md describes, and every figure is computed. No recall figure is
asserted (the bench measures those)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.depth import VARIANTS, _applied, _fuse_mean, measure, table
from indexer import context, fusion, retrieval

MINI = Path(__file__).parent / "bench_data" / "locomo"


def test_a_variant_is_in_force_while_it_runs_and_restored_after() -> None:
    # retrieval.NEIGHBOUR_WINDOW and retrieval.fuse are retrieval's own bindings of fusion's
    # names, the ones retrieval reads and a variant patches; they are not its interface,
    # hence the attr-defined ignores.
    before = (retrieval.CANDIDATES, retrieval.NEIGHBOUR_WINDOW, context.NEIGHBOUR_LAG)  # type: ignore[attr-defined]
    with _applied(VARIANTS["old"]):
        assert (retrieval.CANDIDATES, retrieval.NEIGHBOUR_WINDOW) == (100, 1)  # type: ignore[attr-defined]
        assert context.NEIGHBOUR_LAG == 10 and retrieval.fuse is _fuse_mean  # type: ignore[attr-defined]
    after = (retrieval.CANDIDATES, retrieval.NEIGHBOUR_WINDOW, context.NEIGHBOUR_LAG)  # type: ignore[attr-defined]
    assert after == before
    assert retrieval.fuse is fusion.fuse  # type: ignore[attr-defined]
    # the taken variant is the indexer's rule as it stands
    taken = VARIANTS["taken"]
    assert (taken.candidates, taken.window, taken.lag) == before and taken.miss == "last"


def test_old_miss_rule_adds_nothing_for_a_side_that_missed() -> None:
    fused = _fuse_mean([("a", 3.0), ("b", 1.0)], [("b", 0.9), ("c", 0.1)])
    assert fused == pytest.approx({"a": 1.0, "b": 0.0, "c": -1.0})


def test_harness_measures_each_variant_against_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEARCHITECT_EMBED_MODEL", "hash")  # tiny model made by our code
    chosen = {name: VARIANTS[name] for name in ("old", "taken")}
    result = measure(chosen, tmp_path / "out", MINI)
    assert list(result) == ["old", "taken"]
    for row in result.values():
        for metric in ("recall@10", "context_1000", "context_2000"):
            assert 0.0 <= row[metric] <= 1.0
    assert result["old"]["context_2000_minus_first"]["mean"] == 0.0
    assert result["taken"]["variant"]["candidates"] == 150
    # both variants asked the same stored vaults
    assert sorted(p.name for p in (tmp_path / "out" / "work").iterdir()) == ["mini"]
    assert "taken" in table(result)
