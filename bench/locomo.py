"""LoCoMo recall benchmark: natural questions over long conversations, asked through the tools.

    python -m bench.locomo --out bench/results/locomo [--fresh] [--modes keyword,hybrid]
                           [--no-context] [--no-stdio] [--data DIR]

The conversations of ../shared/data/locomo/ (SOURCES.md) are stored through the MCP tools
as an agent would store them (the real server, in process, through the SDK's client): one
project per conversation, one `store_session` per LoCoMo session (speaker A as `user`, B
as `assistant`, content "Name: text" plus " [shares a photo: caption]" where the turn has
one), with the clock pinned at the session's date so the session and its messages carry
that date. Every question of categories 1-4 (multi-hop, temporal, open-domain,
single-hop) is sent verbatim to `search_messages` in each mode (limit 10) and to
`get_context` (1,000 and 2,000 tokens, default mode); the evidence turns it names are
looked for in the answers. Latency is also measured as an agent's client sees it: a
`codearchitect serve` subprocess over MCP stdio on each conversation's vault, every question
once per mode after ten warm-up questions (`--no-stdio` skips it).

Reported per mode and category: recall@5, recall@10 (share of a question's evidence turns
in the top k, averaged over questions), hit@10 (some evidence turn in the top 10), the
zero-hit share, and the p50 latency of the tool call; for get_context, the share of
evidence turns present (whole or cut). The baseline is a textbook Okapi BM25 with English
stop words removed (bench/bm25.py) over the same turns, computed in the same run; the
differences hybrid - BM25, keyword - BM25 and semantic - BM25 of recall@10 come with 95%
paired-bootstrap confidence intervals.

The vaults are kept under `<out>/work/` and reused while the data and the way they are
stored are unchanged (`--fresh` stores them again); a changed index schema migrates by
itself on open. Results: `<out>/locomo.json`, and the table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import shutil
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .bm25 import Bm25
from .transcript import parse

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "locomo"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
MODES = ("keyword", "semantic", "hybrid")
BUDGETS = (1000, 2000)
STORE_VERSION = "1"  # bump when the way sessions are stored changes: vaults are rebuilt
EMBED_TIMEOUT = 1800.0

__all__ = ("Conversation", "load_conversation", "main", "run_locomo_bench")


@dataclass(frozen=True)
class Turn:
    dia_id: str
    role: str
    content: str


@dataclass(frozen=True)
class Session:
    number: int
    date: datetime
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Question:
    text: str
    category: int
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Conversation:
    name: str
    sessions: tuple[Session, ...]
    questions: tuple[Question, ...]
    dropped_evidence: int  # evidence ids naming no turn
    unanswerable: int  # category 1-4 questions left with no evidence turn

    @property
    def turns(self) -> list[Turn]:
        return [t for s in self.sessions for t in s.turns]


# ---------------------------------------------------------------------- data


def load_conversation(path: Path) -> Conversation:
    """One LoCoMo file: its sessions in order and its questions of categories 1-4."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    conv = raw.get("conversation", raw)
    speaker_a = conv["speaker_a"]
    sessions = []
    numbers = sorted(
        int(m.group(1)) for k in conv if (m := re.fullmatch(r"session_(\d+)", k)) is not None
    )
    for n in numbers:
        turns = tuple(
            Turn(
                t["dia_id"],
                "user" if t["speaker"] == speaker_a else "assistant",
                _content(t),
            )
            for t in conv[f"session_{n}"]
        )
        if turns:
            sessions.append(Session(n, _parse_date(conv[f"session_{n}_date_time"]), turns))
    known = {t.dia_id for s in sessions for t in s.turns}
    questions, dropped, unanswerable = [], 0, 0
    for qa in raw["qa"]:
        category = int(qa.get("category", 0))
        if category not in CATEGORIES:
            continue
        ids = _evidence_ids(qa.get("evidence", []))
        evidence = tuple(i for i in ids if i in known)
        dropped += len(ids) - len(evidence)
        if not evidence:
            unanswerable += 1
            continue
        questions.append(Question(str(qa["question"]), category, evidence))
    return Conversation(path.stem, tuple(sessions), tuple(questions), dropped, unanswerable)


def _content(turn: dict[str, Any]) -> str:
    text = f"{turn['speaker']}: {turn['text']}"
    caption = turn.get("blip_caption")
    if caption:
        text += f" [shares a photo: {caption}]"
    return text


def _evidence_ids(raw: Sequence[str]) -> list[str]:
    """Normalised ids: `D8:6; D9:17` split, `D:11:26` -> `D11:26`, `D30:05` -> `D30:5`."""
    out = []
    for item in raw:
        for part in re.split(r"[;,\s]+", str(item)):
            m = re.fullmatch(r"D:?(\d+):0*(\d+)", part.strip())
            if m is not None:
                out.append(f"D{int(m.group(1))}:{int(m.group(2))}")
    return list(dict.fromkeys(out))


def _parse_date(text: str) -> datetime:
    """`1:56 pm on 8 May, 2023` (read as UTC)."""
    return datetime.strptime(" ".join(text.split()), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


# ---------------------------------------------------------------------- the vault, through the tools


@contextlib.contextmanager
def _clock(moment: datetime) -> Iterator[None]:
    """Pin the clock `store_session` reads, so the session is dated as in LoCoMo."""
    import vault.vault as module

    saved = module.utc_now  # type: ignore[attr-defined]  # patched: not part of its API
    module.utc_now = lambda: moment  # type: ignore[attr-defined]
    try:
        yield
    finally:
        module.utc_now = saved  # type: ignore[attr-defined]


async def _call(client: Any, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    data = result.structured_content
    if result.is_error or not isinstance(data, dict):
        raise RuntimeError(f"{tool} failed: {data}")
    return data


async def _store(client: Any, conv: Conversation) -> dict[str, str]:
    """Store every session; returns `"<session id>/<message id>" -> dia_id`."""
    ids: dict[str, str] = {}
    for session in conv.sessions:
        conversation = [{"role": t.role, "content": t.content} for t in session.turns]
        with _clock(session.date):
            stored = await _call(
                client, "store_session", {"conversation": conversation, "format": "messages"}
            )
        sid = stored["session_id"]
        if not str(stored["date"]).startswith(session.date.strftime("%Y-%m-%dT%H:%M")):
            raise RuntimeError(f"the session was not dated {session.date}: {stored['date']}")
        got = await _call(client, "get_messages", {"session": sid, "limit": 1000})
        messages = got["messages"]
        if [m["content"] for m in messages] != [t.content for t in session.turns]:
            raise RuntimeError(f"session {session.number} was not stored verbatim")
        for message, turn in zip(messages, session.turns, strict=True):
            ids[f"{sid}/{message['id']}"] = turn.dia_id
    return ids


async def _wait_embedded(client: Any, timeout: float) -> dict[str, Any]:
    """Wait until semantic search is caught up; its status (`enabled` False: not on)."""
    deadline = time.monotonic() + timeout
    while True:
        status = await _call(client, "index_status", {})
        semantic = status.get("semantic") or {}
        if not semantic.get("enabled") or semantic.get("error"):
            return dict(semantic)
        if semantic.get("pending", 1) == 0 and status.get("fulltext_pending", 0) == 0:
            return dict(semantic)
        if time.monotonic() > deadline:
            raise RuntimeError(f"semantic search not caught up after {timeout:.0f} s: {semantic}")
        await asyncio.sleep(0.5)


def _enable_semantic(root: Path) -> None:
    """The documented setting (docs/retrieval.md), as `codearchitect semantic enable` writes it."""
    path = root / ".codearchitect" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data["semantic"] = {**data.get("semantic", {}), "enabled": True, "model": "minilm"}
    path.write_text(json.dumps(data, indent=2) + "\n")


def _digest(conv_path: Path) -> str:
    h = hashlib.sha256(conv_path.read_bytes())
    h.update(STORE_VERSION.encode())
    return h.hexdigest()


# ---------------------------------------------------------------------- asking


@dataclass
class _Asked:
    ranked: list[str]  # dia_ids, best first
    ms: float
    error: str | None = None


async def _search(client: Any, question: str, mode: str, ids: dict[str, str]) -> _Asked:
    args = {"query": question, "mode": mode, "limit": 10}
    start = time.perf_counter()
    result = await client.call_tool("search_messages", args)
    ms = (time.perf_counter() - start) * 1000
    data = result.structured_content or {}
    if result.is_error:
        return _Asked([], ms, str(data.get("error", "error")))
    ranked = [ids.get(f"{h['session_id']}/{h['message_id']}", "?") for h in data["hits"]]
    return _Asked(ranked, ms)


async def _context(client: Any, question: str, budget: int, at: dict[str, str]) -> set[str]:
    """The dia_ids of the turns a get_context result holds (`at`: `_by_offset`'s map)."""
    result = await client.call_tool("get_context", {"query": question, "max_tokens": budget})
    if result.is_error:
        raise RuntimeError(f"get_context failed: {result.content}")
    data = parse(result.content[0].text)  # a transcript (indexer/context.py render)
    return {
        at.get(f"{s['session_id']}/{m['offset']}", "?")
        for s in data["sessions"]
        for m in s["messages"]
    }


def _by_offset(ids: dict[str, str]) -> dict[str, str]:
    """`"<session id>/<offset>" -> dia_id` from `_store`'s map, which lists each session's
    messages in their order (get_context names a message by its session and offset)."""
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for key, dia in ids.items():
        sid = key.rsplit("/", 1)[0]
        offset = seen.get(sid, 0)
        seen[sid] = offset + 1
        out[f"{sid}/{offset}"] = dia
    return out


async def _run_conversation(
    conv: Conversation,
    conv_path: Path,
    root: Path,
    modes: Sequence[str],
    context: bool,
    fresh: bool,
    stdio: bool = True,
) -> dict[str, Any]:
    from mcp import Client

    from mcp_server.app import App
    from mcp_server.server import build_server

    digest, id_file = _digest(conv_path), root / "ids.json"
    reuse = (
        not fresh
        and id_file.is_file()
        and (root / "digest").is_file()
        and (root / "digest").read_text() == digest
    )
    if not reuse:
        shutil.rmtree(root, ignore_errors=True)
        (root / ".git").mkdir(parents=True)
    if {"semantic", "hybrid"} & set(modes) or context:
        _enable_semantic(root)
    app = App(root)
    out: dict[str, Any] = {"sessions": len(conv.sessions), "turns": len(conv.turns)}
    try:
        async with Client(build_server(app)) as client:
            start = time.perf_counter()
            if reuse:
                ids = json.loads(id_file.read_text())
            else:
                ids = await _store(client, conv)
                id_file.write_text(json.dumps(ids))
                (root / "digest").write_text(digest)
            out["store_seconds"] = round(time.perf_counter() - start, 2)
            start = time.perf_counter()
            semantic = await _wait_embedded(client, EMBED_TIMEOUT)
            out["embed_wait_seconds"] = round(time.perf_counter() - start, 2)
            out["semantic"] = {k: semantic.get(k) for k in ("enabled", "model", "error")}
            runnable = [
                m
                for m in modes
                if m == "keyword" or (semantic.get("enabled") and not semantic.get("error"))
            ]
            answers: list[dict[str, Any]] = []
            at = _by_offset(ids)  # get_context names a message by its session and offset
            for q in conv.questions:
                entry: dict[str, Any] = {"question": q.text, "category": q.category}
                entry["evidence"] = list(q.evidence)
                for mode in runnable:
                    asked = await _search(client, q.text, mode, ids)
                    entry[mode] = {"ranked": asked.ranked, "ms": round(asked.ms, 2)}
                    if asked.error is not None:
                        entry[mode]["error"] = asked.error
                if context and runnable != ["keyword"]:
                    for budget in BUDGETS:
                        entry[f"context_{budget}"] = sorted(
                            await _context(client, q.text, budget, at)
                        )
                answers.append(entry)
    finally:
        app.close()
    bm25 = Bm25([t.content for t in conv.turns])
    dia = [t.dia_id for t in conv.turns]
    for entry in answers:
        start = time.perf_counter()
        top = bm25.top(entry["question"], 10)
        entry["bm25"] = {
            "ranked": [dia[i] for i in top],
            "ms": round((time.perf_counter() - start) * 1000, 2),
        }
    out["answers"] = answers
    if stdio:
        out["stdio_ms"] = await _stdio_latency(root, [q.text for q in conv.questions], runnable)
    return out


async def _stdio_latency(
    root: Path, questions: Sequence[str], modes: Sequence[str]
) -> dict[str, list[float]]:
    """search_messages (limit 10) timed over MCP stdio against a `codearchitect serve`
    subprocess on `root`, once it has caught up: ten warm-up questions, then each once."""
    from mcp import Client

    from .phases import server_params

    times: dict[str, list[float]] = {}
    async with Client(server_params(root), cache=None) as client:
        await _wait_embedded(client, EMBED_TIMEOUT)
        for mode in modes:
            for question in questions[:10]:
                await _search(client, question, mode, {})
            asked = [await _search(client, question, mode, {}) for question in questions]
            errors = [a.error for a in asked if a.error is not None]
            if errors:
                raise RuntimeError(f"{mode} search failed over stdio: {errors[0]}")
            times[mode] = [round(a.ms, 2) for a in asked]
    return times


# ---------------------------------------------------------------------- scoring


def _recall(ranked: list[str], evidence: list[str], k: int) -> float:
    return len(set(ranked[:k]) & set(evidence)) / len(evidence)


def _paired_ci(diffs: list[float], rounds: int = 2000) -> dict[str, float]:
    rng = random.Random(11)
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(rounds))
    return {
        "mean": round(statistics.fmean(diffs), 4),
        "ci95_low": round(means[int(0.025 * rounds)], 4),
        "ci95_high": round(means[int(0.975 * rounds)], 4),
    }


def score(answers: list[dict[str, Any]], systems: Sequence[str]) -> dict[str, Any]:
    """Recall@5/@10, hit@10, zero-hit share and p50 latency per system and category; the
    get_context coverage; paired bootstrap CIs of each system's recall@10 minus BM25's."""
    groups: dict[str, list[dict[str, Any]]] = {"all": answers}
    for cat, name in CATEGORIES.items():
        groups[name] = [a for a in answers if a["category"] == cat]
    result: dict[str, Any] = {"questions": len(answers), "systems": {}}
    for system in systems:
        per: dict[str, Any] = {}
        for name, group in groups.items():
            if not group:
                continue
            rows = [a[system] for a in group]
            ev = [a["evidence"] for a in group]
            per[name] = {
                "n": len(group),
                "recall@5": _mean(
                    _recall(r["ranked"], e, 5) for r, e in zip(rows, ev, strict=True)
                ),
                "recall@10": _mean(
                    _recall(r["ranked"], e, 10) for r, e in zip(rows, ev, strict=True)
                ),
                "hit@10": _mean(
                    float(bool(set(r["ranked"][:10]) & set(e)))
                    for r, e in zip(rows, ev, strict=True)
                ),
                "zero_hit": _mean(float(not r["ranked"]) for r in rows),
                "errors": sum(1 for r in rows if r.get("error")),
            }
        times = sorted(a[system]["ms"] for a in answers)
        per["all"]["p50_ms"] = round(times[len(times) // 2], 2)
        per["all"]["p95_ms"] = round(times[min(len(times) - 1, int(0.95 * len(times)))], 2)
        result["systems"][system] = per
    for budget in BUDGETS:
        key = f"context_{budget}"
        have = [a for a in answers if key in a]
        if have:
            result[key] = {
                name: _mean(
                    len(set(a[key]) & set(a["evidence"])) / len(a["evidence"])
                    for a in group
                    if key in a
                )
                for name, group in groups.items()
                if any(key in a for a in group)
            }
    result["minus_bm25_recall@10"] = {
        system: _paired_ci(
            [
                _recall(a[system]["ranked"], a["evidence"], 10)
                - _recall(a["bm25"]["ranked"], a["evidence"], 10)
                for a in answers
            ]
        )
        for system in systems
        if system != "bm25"
    }
    return result


def _mean(values: Any) -> float:
    items = list(values)
    return round(statistics.fmean(items), 4) if items else 0.0


def table(scored: dict[str, Any]) -> str:
    """The result as a plain-text table."""
    lines = []
    cats = ["all", *CATEGORIES.values()]
    head = f"{'system':<9} {'metric':<10}" + "".join(f"{c:>12}" for c in cats)
    lines += [head, "-" * len(head)]
    for system, per in scored["systems"].items():
        for metric in ("recall@5", "recall@10", "hit@10", "zero_hit"):
            cells = "".join(f"{per[c][metric]:>12.3f}" if c in per else f"{'':>12}" for c in cats)
            lines.append(f"{system:<9} {metric:<10}{cells}")
        lines.append(
            f"{system:<9} {'latency':<10}  p50 {per['all']['p50_ms']} ms, p95 {per['all']['p95_ms']} ms"
            + (f", {per['all']['errors']} errors" if per["all"]["errors"] else "")
        )
    for budget in BUDGETS:
        cov = scored.get(f"context_{budget}")
        if cov:
            cells = "".join(f"{cov[c]:>12.3f}" if c in cov else f"{'':>12}" for c in cats)
            lines.append(f"{'context':<9} {budget:<10}{cells}")
    lines.append("")
    lines.append(
        f"recall@10 minus BM25 (mean, 95% paired bootstrap CI), {scored['questions']} questions:"
    )
    for system, ci in scored["minus_bm25_recall@10"].items():
        lines.append(
            f"  {system:<9} {ci['mean']:+.4f}  [{ci['ci95_low']:+.4f}, {ci['ci95_high']:+.4f}]"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------- entry points


def run_locomo_bench(
    out_dir: Path | str,
    *,
    data: Path = DATA,
    modes: Sequence[str] = MODES,
    context: bool = True,
    fresh: bool = False,
    stdio: bool = True,
) -> dict[str, Any]:
    """Store, ask, score; writes `<out_dir>/locomo.json` and returns the same dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = sorted(data.glob("*.json"))
    if not paths:
        raise SystemExit(f"no LoCoMo conversations in {data} (see shared/data/SOURCES.md)")
    report: dict[str, Any] = {"load_before": _load(), "modes": list(modes), "conversations": {}}
    answers: list[dict[str, Any]] = []
    started = time.perf_counter()
    for path in paths:
        conv = load_conversation(path)
        run = asyncio.run(
            _run_conversation(conv, path, out / "work" / conv.name, modes, context, fresh, stdio)
        )
        for entry in run["answers"]:
            entry["conversation"] = conv.name
        answers.extend(run.pop("answers"))
        run.update(
            questions=len(conv.questions),
            dropped_evidence_ids=conv.dropped_evidence,
            questions_without_evidence=conv.unanswerable,
        )
        report["conversations"][conv.name] = run
    systems = [m for m in modes if all(m in a for a in answers)] + ["bm25"]
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["load_after"] = _load()
    report["results"] = score(answers, systems)
    report["stdio"] = stdio_latency(report["conversations"].values())
    (out / "locomo.json").write_text(json.dumps(report, indent=2))
    (out / "answers.json").write_text(json.dumps(answers))
    return report


def stdio_latency(runs: Any) -> dict[str, dict[str, float]]:
    """p50/p95 per mode of the stdio phase, over every conversation's questions."""
    pooled: dict[str, list[float]] = {}
    for run in runs:
        for mode, times in run.get("stdio_ms", {}).items():
            pooled.setdefault(mode, []).extend(times)
    return {
        mode: {
            "n": len(times),
            "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(sorted(times)[min(len(times) - 1, int(0.95 * len(times)))], 2),
        }
        for mode, times in pooled.items()
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/locomo"))
    parser.add_argument("--data", type=Path, default=DATA, help="folder of LoCoMo *.json files")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated, of {','.join(MODES)}"
    )
    parser.add_argument("--no-context", action="store_true", help="skip get_context")
    parser.add_argument("--fresh", action="store_true", help="store the conversations again")
    parser.add_argument(
        "--no-stdio", action="store_true", help="skip the latency over MCP stdio (a subprocess)"
    )
    args = parser.parse_args(argv)
    logging.getLogger("codearchitect").setLevel(logging.WARNING)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown or not modes:
        parser.error(f"unknown modes: {', '.join(sorted(unknown)) or '(none)'}")
    report = run_locomo_bench(
        args.out,
        data=args.data,
        modes=modes,
        context=not args.no_context,
        fresh=args.fresh,
        stdio=not args.no_stdio,
    )
    print(table(report["results"]))
    for mode, lat in report["stdio"].items():
        print(
            f"{mode:<9} over MCP stdio (a serve subprocess): p50 {lat['p50_ms']} ms, "
            f"p95 {lat['p95_ms']} ms, {lat['n']} questions"
        )
    print(
        f"\nload {report['load_before']} -> {report['load_after']}, {report['seconds']} s;"
        f" {args.out / 'locomo.json'}"
    )


if __name__ == "__main__":
    main()
