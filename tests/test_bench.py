"""The benchmark runs end to end at a tiny size: every figure is there and every search
result it checked against the planted terms was right. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import CHECKS, REQUIRED_FIGURES

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.shared_data  # bench.generate reads ../shared/data/corpus


def test_bench_runs_at_tiny_size(tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--size",
            "tiny",
            "--cache",
            str(tmp_path / "cache"),
            "--results",
            str(results),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    data = json.loads((results / "tiny.json").read_text())

    assert data["errors"] == {}
    assert data["missing_figures"] == []
    for name in REQUIRED_FIGURES:
        figure = data["figures"][name]
        assert isinstance(figure["median"], int | float), name
        assert isinstance(figure["p95"], int | float), name
        assert figure["n"] >= 1, name

    for engine in CHECKS:
        check = data["checks"][f"planted.{engine}"]
        assert check["ok"], (engine, check)
        assert check["checked"] > 0 and check["failed"] == 0
    assert all(c["ok"] for c in data["checks"].values()), data["checks"]
    assert data["ok"]

    budgets = {b["budget"] for b in data["budgets"]}
    assert any("15,000 messages/s" in b for b in budgets)
    assert all(b["met"] in (True, False, None) for b in data["budgets"])
    table = (results / "tiny.md").read_text()
    assert "| rare/none |" in table and "Budget" in table
    assert "| rare/none |" in proc.stdout
