"""Message ids: `m` + a ULID (48-bit millisecond time, 80 random bits, Crockford base32)."""

from __future__ import annotations

import secrets
import time

__all__ = ("new_message_id",)

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_message_id() -> str:
    """A fresh, time-sortable message id such as `m01JH3Q8Z6M3V1R6Y8S9T0W2X4C`."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "m" + "".join(reversed(chars))
