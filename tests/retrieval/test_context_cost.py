"""What a get_context result is charged, against real tokenizers, on pieces kept in
tests/fixtures.

`tests/fixtures/context_framing.json` holds pieces of a result exactly as the layout's
functions write them (indexer/context.py: an entry `\\n[N] ROLE: CONTENT`, a session
header `\\n## session ID · DATE · TITLE`, a pointer `, ID [N]`, an empty result's
envelope), each with the value it was written from: `frame-*` pieces with nothing a user
wrote in them (empty contents and titles; offsets, dates, roles, modes and counts of every
width), then every text of tests/fixtures/token_samples.json as a message's content and as
a title. Their counts under cl100k_base, o200k_base and claude-legacy were computed by
`python -m bench.framing`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from indexer.context import entry_text, head_text, header_text, pointer_text, tail_text
from indexer.context_cost import entry_cost, header_cost, pointer_cost, result_cost

SAMPLES = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "context_framing.json").read_text(encoding="utf-8")
)["samples"]
REFERENCES = ("cl100k_base", "o200k_base", "claude-legacy")


def _envelope_text(value: dict[str, Any]) -> str:
    assert value["sessions"] == []
    return head_text(value) + tail_text(value["omitted"])


# a piece's kind -> (its price, what the layout writes for its value)
PIECES: dict[str, tuple[Callable[[Any], int], Callable[[Any], str]]] = {
    "entry": (entry_cost, entry_text),
    "header": (header_cost, header_text),
    "pointer": (pointer_cost, lambda value: "," + pointer_text(value)),
    "envelope": (result_cost, _envelope_text),
}


def _cost(sample: dict[str, Any]) -> int:
    return PIECES[sample["kind"].removeprefix("frame-")][0](sample["value"])


def _layout(sample: dict[str, Any]) -> str:
    """What the layout writes for the sample's value today."""
    return PIECES[sample["kind"].removeprefix("frame-")][1](sample["value"])


def _id(sample: dict[str, Any]) -> str:
    return f"{sample['kind']}:{sample['text'].strip()[:40]}"


def test_the_fixture_covers_every_piece() -> None:
    kinds = {s["kind"] for s in SAMPLES}
    assert kinds == {f"{p}{k}" for p in ("frame-", "") for k in ("entry", "header")} | {
        "frame-pointer",
        "frame-envelope",
    }
    assert all(set(s["tokens"]) == set(REFERENCES) for s in SAMPLES)


def test_the_fixture_is_what_the_layout_writes() -> None:
    """The counts are of today's layout: a change to it regenerates the fixture
    (`python -m bench.framing`)."""
    stale = [s["text"] for s in SAMPLES if _layout(s) != s["text"]]
    assert not stale, stale[:3]


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s["kind"].startswith("frame-")], ids=_id)
def test_the_framing_is_never_undercharged(sample: dict[str, Any]) -> None:
    """Our own JSON is charged at least what every reference counts."""
    cost = _cost(sample)
    for name in REFERENCES:
        assert cost >= sample["tokens"][name], (name, cost, sample["tokens"][name])


@pytest.mark.parametrize(
    "sample", [s for s in SAMPLES if not s["kind"].startswith("frame-")], ids=_id
)
def test_a_piece_with_a_users_text_keeps_the_estimates_rule(sample: dict[str, Any]) -> None:
    """Never undercounted by more than 10% (the rule of indexer/tokens.py)."""
    cost = _cost(sample)
    for name in REFERENCES:
        assert cost >= 0.9 * sample["tokens"][name], (name, cost, sample["tokens"][name])


def test_the_framing_is_charged_what_it_costs_not_more() -> None:
    """The point of pricing the framing apart: an entry's framing is charged at most a
    few tokens over the largest count, not twice it (the estimate charged ~35 for ~15)."""
    frames = [s for s in SAMPLES if s["kind"] == "frame-entry"]
    for s in frames:
        assert _cost(s) <= max(s["tokens"].values()) + 4, s["text"]
