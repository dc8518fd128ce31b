"""bench/peers.py's report: ratios point the stated way and every figure has a row. The
measuring half needs Basic Memory (Python >= 3.12, its own venv) and runs in `make
bench-peers`, never in the tests."""

from __future__ import annotations

from typing import Any

from bench.peers import QUERIES, markdown, ratios


def _side(scale: float, indexed: int = 100) -> dict[str, Any]:
    figure = {"median": 10.0 * scale}
    return {
        "first_index": {
            "seconds": 2.0 * scale,
            "messages_per_s": 1000 / scale,
            "peak_rss_mb": 100.0 * scale,
            "files_indexed": indexed,
            "files_failed": 0,
        },
        "search_in_process": {q: figure for q in QUERIES},
        "search_cli": {q: figure for q in QUERIES},
        "mcp": {
            **{f"search {q}": figure for q in QUERIES},
            "write": {**figure, "text_on_disk_when_answered": "5/5"},
            "append": {**figure, "text_on_disk_when_answered": "4/5"},
            "editor_save_to_searchable": figure,
            "spawn_to_first_result": figure,
            "server_peak_rss_mb": 50.0 * scale,
        },
    }


def test_ratios_are_above_one_when_codearchitect_does_better() -> None:
    results = {"codearchitect": _side(1.0), "basic-memory": _side(4.0)}
    got = ratios(results)
    assert got and all(value == 4.0 for value in got.values()), got


def test_a_missing_figure_has_no_ratio_and_the_report_says_what_failed() -> None:
    theirs = _side(2.0)
    theirs["search_in_process"] = {"error": "RuntimeError: no API"}
    results = {"codearchitect": _side(1.0), "basic-memory": theirs}
    got = ratios(results)
    assert got[f"search in-process `{QUERIES[0]}` p50"] is None
    assert got["first index (whole process)"] == 2.0
    data = {
        "peer": "basic-memory 0.24.1",
        "date": "today",
        "corpus": {"sessions": 3, "messages": 30, "bytes": 1000},
        "load_before": "1 1 1",
        "load_after": "1 1 1",
        "results": results,
        "ratios": got,
    }
    text = markdown(data)
    assert text.count("\n| ") == 1 + len(got)  # the header, then one row per figure
    assert "basic-memory search_in_process: RuntimeError: no API" in text
    assert "append 4/5" in text and "100 files indexed, 0 failed" in text
