"""The marker that replaces a secret: `[REDACTED:<kind>:<tag>]`.

The tag is 4 hex digits (16 bits) of PBKDF2-HMAC-SHA256 of the secret with a fixed salt
and 10,000 iterations. It lets a reader tell two secrets apart (two different secrets
share a tag with odds of 1 in 65,536) and see the same secret again, and it is the same on
every machine, so two clones importing the same transcript write identical files.

What it gives away: at most 16 bits about the secret. For a random key (an API key has
well over 128 bits) that is nothing. For a weak password an attacker with a dictionary
can discard the guesses whose tag differs, but never confirm one (about 1 in 65,536 wrong
guesses shares the tag), and each guess costs 10,000 HMAC rounds. A per-vault secret key
would stop even that, but the tag must be the same in every clone of a shared vault, and
any key kept in the vault is read by whoever reads the vault.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

__all__ = ("MARKER", "marker", "marker_spans", "tag")

MARKER = re.compile(r"\[REDACTED:([a-z0-9-]+):([0-9a-f]{4})\]")
_SALT = b"codearchitect-redaction-v1"
_ROUNDS = 10_000


@lru_cache(maxsize=4096)
def tag(secret: str) -> str:
    """The 4 hex digits that identify `secret` in its marker (slow on purpose; cached)."""
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8", "surrogatepass"), _SALT, _ROUNDS)
    return digest[:2].hex()


def marker(kind: str, secret: str) -> str:
    return f"[REDACTED:{kind}:{tag(secret)}]"


def marker_spans(text: str) -> list[tuple[int, int]]:
    """Where markers already stand in `text` (a finding overlapping one is not a secret)."""
    if "[REDACTED:" not in text:
        return []
    return [m.span() for m in MARKER.finditer(text)]
