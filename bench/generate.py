"""A reproducible reference vault: N sessions of real conversation text, with planted terms.

    python -m bench.generate --sessions 10000 --messages 40 --seed 7 --out /tmp/refvault

Text comes from ../shared/data/corpus (ShareGPT, OpenAssistant, Taskmaster coffee dialogs),
streamed and cut to realistic lengths. Rare terms (`zqplant0001`, …) are planted in known
messages and written to `<out>/planted.json` with their true locations, so a benchmark can
check search results, not only time them. Files are rendered by the vault's own format
code and laid out exactly as the vault lays them out.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vault.paths import VAULT_DIR, session_filename, slugify
from vault.session_file import Message, SessionFile, dumps, format_ts

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpus"
START = datetime(2025, 1, 1, tzinfo=UTC)
ROLES = ("user", "assistant")
KEY_AGENTS = ("claude-code", "cursor", "desktop")


def corpus_texts(limit: int, rng: random.Random) -> list[str]:
    """Up to `limit` message texts mixed from the three corpora."""
    texts: list[str] = []
    texts.extend(_taskmaster())
    texts.extend(_oasst())
    for text in _sharegpt():
        texts.append(text)
        if len(texts) >= limit:
            break
    rng.shuffle(texts)
    return texts[:limit]


def _taskmaster() -> Iterator[str]:
    for path in sorted((DATA / "taskmaster4_coffee").glob("data_*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for record in json.load(fh):
                for utterance in record.get("utterances", []):
                    if utterance.get("text"):
                        yield utterance["text"]


def _oasst() -> Iterator[str]:
    path = DATA / "oasst1_en_100_trees" / "en_100_tree.jsonl"

    def walk(node: dict[str, Any]) -> Iterator[str]:
        yield node["text"]
        for reply in node.get("replies", []):
            yield from walk(reply)

    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield from walk(json.loads(line)["prompt"])


def _sharegpt() -> Iterator[str]:
    """Stream records from the truncated ShareGPT JSON array with raw_decode."""
    path = DATA / "sharegpt_v3_pypi" / "ShareGPT_V3_unfiltered_cleaned_split.json.gz"
    decoder = json.JSONDecoder()
    buf = ""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        buf = fh.read(1 << 20).lstrip().removeprefix("[")
        while True:
            buf = buf.lstrip().lstrip(",").lstrip()
            try:
                record, end = decoder.raw_decode(buf)
            except ValueError:
                more = fh.read(1 << 20)
                if not more:
                    return
                buf += more
                continue
            buf = buf[end:]
            for turn in record.get("conversations", []):
                value = turn.get("value")
                if isinstance(value, str) and value.strip():
                    yield value[:4000]


def generate(
    out: Path, sessions: int, messages: int, seed: int, planted_terms: int = 200
) -> dict[str, Any]:
    """Write the vault under `out`; returns the manifest (also saved as planted.json)."""
    rng = random.Random(seed)
    pool = corpus_texts(max(20_000, min(sessions * messages, 120_000)), rng)
    vault_dir = out / VAULT_DIR / "sessions"
    planted: dict[str, list[dict[str, str]]] = {}
    plan: dict[tuple[int, int], list[str]] = {}
    terms = [f"zqplant{i:04d}" for i in range(planted_terms)]
    for i, term in enumerate(terms):
        copies = 1 + (i % 5)  # 1..5 true locations each
        for _ in range(copies):
            where = (rng.randrange(sessions), rng.randrange(messages))
            plan.setdefault(where, []).append(term)
    total_bytes = 0
    count = 0
    for s in range(sessions):
        created = START + timedelta(minutes=37 * s)
        n = max(2, int(rng.gauss(messages, messages / 4)))
        msgs = []
        for j in range(n):
            text = pool[rng.randrange(len(pool))]
            mid = f"m{s:06d}x{j:04d}"
            for term in plan.get((s, j), []):
                text = f"{text} {term}"
            msgs.append(
                Message(mid, ROLES[j % 2], text, format_ts(created + timedelta(seconds=20 * j)))
            )
        sid = f"bench-{s:06d}"
        for j in range(n, messages):
            for term in plan.get((s, j), []):
                msgs[-1] = Message(
                    msgs[-1].id, msgs[-1].role, f"{msgs[-1].content} {term}", msgs[-1].created_at
                )
        for m in msgs:
            for term in terms_in(m.content):
                planted.setdefault(term, []).append({"session_id": sid, "message_id": m.id})
        title = msgs[0].content.split("\n", 1)[0][:80]
        session = SessionFile(
            id=sid,
            created=format_ts(created),
            title=title,
            topic=slugify(title)[:100] or "untitled",
            agent_id=KEY_AGENTS[s % 3],
            channel="bench",
            messages=tuple(msgs),
        )
        folder = vault_dir / created.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        data = dumps(session).encode("utf-8")
        (folder / session_filename(created, session.topic)).write_bytes(data)
        total_bytes += len(data)
        count += len(msgs)
    manifest = {
        "sessions": sessions,
        "messages": count,
        "bytes": total_bytes,
        "seed": seed,
        "planted": {t: sorted(planted.get(t, []), key=lambda x: x["message_id"]) for t in terms},
    }
    (out / "planted.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def terms_in(text: str) -> list[str]:
    return sorted({w for w in text.split() if w.startswith("zqplant") and len(w) == 11})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    manifest = generate(args.out, args.sessions, args.messages, args.seed)
    print(
        f"wrote {manifest['sessions']} sessions, {manifest['messages']} messages, {manifest['bytes'] / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
