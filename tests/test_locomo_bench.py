"""The LoCoMo harness (bench/locomo.py) on a tiny LoCoMo-shaped file of our own: the data is
read as SOURCES.md describes, stored through the tools dated as the sessions are, and every
figure is computed. No recall or timing figure is asserted (the bench measures those)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bm25 import Bm25, words
from bench.locomo import load_conversation, run_locomo_bench, table

MINI = Path(__file__).parent / "bench_data" / "locomo"


def test_conversation_is_read_as_documented() -> None:
    conv = load_conversation(MINI / "mini.json")
    assert [s.number for s in conv.sessions] == [1, 2]  # the empty session 3 is not stored
    assert conv.sessions[0].date.isoformat() == "2023-05-08T13:56:00+00:00"
    first = conv.sessions[0].turns
    assert [t.role for t in first] == ["user", "assistant", "user"]
    assert first[0].content == "Ada: Hi Bo! I finally adopted a greyhound named Pixel."
    assert first[1].content.endswith(
        "my old canoe. [shares a photo: a photo of a red canoe on a lake]"
    )
    # category 5 skipped; "Where does Bo live?" names no turn that exists: left out
    assert [(q.category, q.evidence) for q in conv.questions] == [
        (4, ("D1:1",)),
        (2, ("D2:1",)),  # D2:01
        (1, ("D1:2", "D2:2")),  # "D1:2; D2:2"
        (3, ("D1:2",)),  # D:1:2, and D9:9 dropped
    ]
    assert conv.dropped_evidence == 2
    assert conv.unanswerable == 1


def test_bm25_baseline_is_textbook() -> None:
    assert words("When did the dog WIN?") == ["dog", "win"]
    bm = Bm25(["the dog won", "a dog and a dog", "cats only"])
    assert bm.top("dog", 10) == [1, 0]  # higher tf first; no shared word: not returned
    assert bm.top("the of", 10) == []


def test_harness_stores_through_tools_and_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEARCHITECT_EMBED_MODEL", "hash")  # tiny model made by our code
    out = tmp_path / "out"
    report = run_locomo_bench(out, data=MINI)
    root = out / "work" / "mini" / ".codearchitect" / "sessions"
    files = sorted(p.relative_to(root).parts[0] for p in root.rglob("*.md"))
    assert files == ["2023-05-08", "2023-06-27"]  # dated as the LoCoMo sessions
    text = next((root / "2023-06-27").glob("*.md")).read_text()
    assert "Bo: Amazing, I am taking pottery lessons on Thursdays now." in text

    results = report["results"]
    assert results["questions"] == 4
    assert set(results["systems"]) == {"keyword", "semantic", "hybrid", "bm25"}
    for per in results["systems"].values():
        assert per["all"]["n"] == 4
        assert set(per) >= {"all", "multi-hop", "temporal", "open-domain", "single-hop"}
    assert set(results["minus_bm25_recall@10"]) == {"keyword", "semantic", "hybrid"}
    assert set(results["context_2000"]) >= {"all"}
    answers = json.loads((out / "answers.json").read_text())
    assert answers[1]["bm25"]["ranked"][0] == "D2:1"  # pixel, win, ribbon, dog, show
    assert results["systems"]["bm25"]["temporal"]["recall@5"] == 1.0
    assert all(set(a) >= {"keyword", "semantic", "hybrid", "context_1000"} for a in answers)
    assert "recall@10 minus BM25" in table(results)
    # every question once per mode over MCP stdio, against a `serve` subprocess
    assert {m: v["n"] for m, v in report["stdio"].items()} == {
        "keyword": 4,
        "semantic": 4,
        "hybrid": 4,
    }
    assert all(0 < v["p50_ms"] <= v["p95_ms"] for v in report["stdio"].values())

    again = run_locomo_bench(out, data=MINI, modes=("keyword",), context=False, stdio=False)
    assert again["conversations"]["mini"]["turns"] == 5
    assert set(again["results"]["systems"]) == {"keyword", "bm25"}
    assert again["stdio"] == {}
