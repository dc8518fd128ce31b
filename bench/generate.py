"""A reproducible reference vault: N sessions of real conversation text, with planted terms.

    python -m bench.generate --sessions 10000 --messages 40 --seed 7 --out /tmp/refvault

Text comes from ../shared/data/corpus (ShareGPT, OpenAssistant, Taskmaster coffee dialogs),
streamed and cut to realistic lengths. Rare terms (`zqplant0001`, …) are planted in known
messages, and so are term pairs (`zqalpha0001 zqbeta0001`: side by side in some messages,
apart and reversed in others, so a phrase query and a two-term query have different true
answers). Their true locations (session, message, role, time) are written to
`<out>/planted.json`, so a benchmark can check search results, not only time them. Files
are rendered by the vault's own format code and laid out exactly as the vault lays them out.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vault.paths import VAULT_DIR, session_filename, slugify
from vault.session_file import Message, SessionFile, dumps, format_ts

# Bump when the output for the same (sessions, messages, seed) changes: it keys the cache.
GEN_VERSION = 3
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpus"
START = datetime(2025, 1, 1, tzinfo=UTC)
SESSION_SPACING = timedelta(minutes=37)
POOL = 120_000  # message texts drawn from (all of Taskmaster and OpenAssistant, then ShareGPT)
MESSAGE_SPACING = timedelta(seconds=20)
ROLES = ("user", "assistant")
KEY_AGENTS = ("claude-code", "cursor", "desktop")

Location = dict[str, str]


def corpus_texts(limit: int, rng: random.Random) -> list[str]:
    """Up to `limit` message texts mixed from the three corpora."""
    if not DATA.is_dir():
        raise SystemExit(f"bench: the shared corpus is missing: {DATA}")
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
    out: Path,
    sessions: int,
    messages: int,
    seed: int,
    planted_terms: int = 200,
    planted_pairs: int | None = None,
) -> dict[str, Any]:
    """Write the vault under `out`; returns the manifest (also saved as planted.json).

    The manifest holds `planted` (term -> true locations) and `pairs` (a list of
    `{a, b, adjacent, apart}`: `"a b"` as a phrase matches exactly `adjacent`, `a b` as two
    words matches `adjacent + apart`). A location is `{session_id, message_id, role,
    created_at}`.
    """
    rng = random.Random(seed)
    pool = corpus_texts(POOL, rng)  # the same mix of texts at every size
    vault_dir = out / VAULT_DIR / "sessions"
    pairs = planted_pairs if planted_pairs is not None else max(1, planted_terms // 4)
    # Where each planted text goes: (session, message index) -> [(kind, text)].
    plan: dict[tuple[int, int], list[tuple[str, str]]] = {}
    terms = [f"zqplant{i:04d}" for i in range(planted_terms)]
    for i, term in enumerate(terms):
        for _ in range(1 + (i % 5)):  # 1..5 true locations each
            where = (rng.randrange(sessions), rng.randrange(messages))
            plan.setdefault(where, []).append(("suffix", term))
    pair_terms = [(f"zqalpha{k:04d}", f"zqbeta{k:04d}") for k in range(pairs)]
    for k, (a, b) in enumerate(pair_terms):
        for _ in range(1 + (k % 3)):  # side by side, in order: a phrase match
            where = (rng.randrange(sessions), rng.randrange(messages))
            plan.setdefault(where, []).append(("suffix", f"{a} {b}"))
        for _ in range(1 + ((k + 1) % 3)):  # reversed and apart: both words, no phrase
            where = (rng.randrange(sessions), rng.randrange(messages))
            plan.setdefault(where, []).append(("apart", f"{b}\t{a}"))
    found: dict[str, list[Location]] = {}
    phrase_found: dict[str, list[Location]] = {}
    total_bytes = 0
    count = 0
    for s in range(sessions):
        created = START + SESSION_SPACING * s
        n = max(2, round(rng.gauss(messages, messages / 4)))
        texts = [pool[rng.randrange(len(pool))] for _ in range(n)]
        for (ps, pj), items in plan.items():
            if ps != s:
                continue
            j = min(pj, n - 1)  # a plan beyond this session's length lands in its last message
            for kind, text in items:
                if kind == "suffix":
                    texts[j] = f"{texts[j]} {text}"
                else:  # "b … a": reversed, so never the phrase "a b"
                    b, a = text.split("\t")
                    texts[j] = f"{b} {texts[j]} {a}"
        sid = f"bench-{s:06d}"
        msgs = []
        for j, text in enumerate(texts):
            ts = format_ts(created + MESSAGE_SPACING * j)
            msg = Message(f"m{s:06d}x{j:04d}", ROLES[j % 2], text, ts)
            msgs.append(msg)
            loc = {"session_id": sid, "message_id": msg.id, "role": msg.role, "created_at": ts}
            # The truth is found by brute force in the final text, not assumed from the plan.
            for term in terms_in(text):
                found.setdefault(term, []).append(loc)
            for a in sorted({m.group(1).lower() for m in _PHRASE.finditer(text)}):
                phrase_found.setdefault(a, []).append(loc)
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
    both = {a: {x["message_id"] for x in found.get(a, [])} for a, _ in pair_terms}
    manifest: dict[str, Any] = {
        "generator_version": GEN_VERSION,
        "sessions": sessions,
        "messages": count,
        "bytes": total_bytes,
        "seed": seed,
        "first_created": format_ts(START),
        "last_created": format_ts(START + SESSION_SPACING * (sessions - 1)),
        "planted": {t: sorted(found.get(t, []), key=by_id) for t in terms},
        "pairs": [
            {
                "a": a,
                "b": b,
                "adjacent": sorted(phrase_found.get(a, []), key=by_id),
                "both": sorted(
                    (x for x in found.get(b, []) if x["message_id"] in both[a]), key=by_id
                ),
            }
            for a, b in pair_terms
        ],
    }
    (out / "planted.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def by_id(loc: Location) -> str:
    return loc["message_id"]


def terms_in(text: str) -> list[str]:
    """The planted words in a text, as a search tokenizer sees them (whole words, any case)."""
    return sorted({w.lower() for w in _PLANTED.findall(text)})


# Words are runs of letters and digits, as for tantivy's default tokenizer.
_PLANTED = re.compile(r"(?<![^\W_])(zq(?:plant|alpha|beta)\d{4})(?![^\W_])", re.IGNORECASE)
_PHRASE = re.compile(r"(?<![^\W_])(zqalpha(\d{4}))[\W_]+zqbeta\2(?![^\W_])", re.IGNORECASE)


def cache_key(sessions: int, messages: int, seed: int) -> str:
    return f"vault-v{GEN_VERSION}-s{sessions}-m{messages}-seed{seed}"


def ensure_vault(
    cache: Path, sessions: int, messages: int, seed: int, planted_terms: int = 200
) -> Path:
    """The generated vault for these parameters under `cache`, generated once and reused."""
    target = cache / f"{cache_key(sessions, messages, seed)}-p{planted_terms}"
    if (target / "planted.json").is_file() and (target / "COMPLETE").is_file():
        return target
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    generate(partial, sessions, messages, seed, planted_terms)
    (partial / "COMPLETE").write_text("")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def write_long_session(root: Path, session_id: str, count: int, seed: int) -> Path:
    """A session file of `count` messages of corpus text (for append cost vs. file size)."""
    rng = random.Random(seed)
    pool = corpus_texts(min(count, 20_000), rng)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    msgs = tuple(
        Message(
            f"long{j:06d}",
            ROLES[j % 2],
            pool[rng.randrange(len(pool))],
            format_ts(created + timedelta(seconds=j)),
        )
        for j in range(count)
    )
    session = SessionFile(
        id=session_id,
        created=format_ts(created),
        title="A long session",
        topic="a-long-session",
        channel="bench",
        messages=msgs,
    )
    folder = root / VAULT_DIR / "sessions" / created.strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / session_filename(created, session.topic)
    path.write_bytes(dumps(session).encode("utf-8"))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--planted", type=int, default=200, help="how many rare terms to plant")
    args = parser.parse_args()
    manifest = generate(args.out, args.sessions, args.messages, args.seed, args.planted)
    print(
        f"wrote {manifest['sessions']} sessions, {manifest['messages']} messages, "
        f"{manifest['bytes'] / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
