"""Is a value found by its context (`password = "…"`, `API_KEY=…`, `Bearer …`) a real secret,
or a placeholder, a variable, a word? detect-secrets' own heuristics plus ours.

Provider tokens with a fixed format (`AKIA…`, `ghp_…`) are not filtered here: their format
is the evidence. These checks are for values whose only evidence is where they stand.
"""

from __future__ import annotations

import math
import re
import string

__all__ = ("entropy", "looks_random", "looks_secret", "obvious_placeholder", "placeholder")

_OBVIOUS = re.compile(
    r"your[-_]|[-_]here\b|xxxx|example|placeholder|dummy|<|\.\.\.|\*\*\*|passw(?:or)?d|"
    r"0123456789|12345|abcdef0123|^\{|\}$|^\$|^(?:sha(?:1|256|384|512)-)",
    re.IGNORECASE,
)
_DEMO_START = re.compile(
    r"^(?:my)?(?:secret|test|demo|sample|changeme|admin|letmein)\W*\d*\W*$", re.I
)
_EXPRESSION = re.compile(r"^[\w.]+(?:\[[^\]]*\]|\(.*\))$|^[\w-]+(?:,[\w-]+)+$")
_PATHISH = re.compile(
    r"(?:^|[/\\])[a-z]{3,}[/\\][a-z_]{3,}[/\\]|\.(?:json|pem|key|crt|cer|p12|pfx|txt|ya?ml|"
    r"env|ini|cfg|conf|jpe?g|png|gif|csv|py|js|ts|sh)$",
    re.IGNORECASE,
)
_PLACEHOLDER_VALUES = frozenset(
    [
        "password",
        "pass",
        "passwd",
        "pwd",
        "secret",
        "token",
        "changeme",
        "admin",
        "root",
        "user",
        "username",
        "test",
        "pw",
        "mypassword",
        "yourpassword",
        "mysecret",
        "apikey",
        "api_key",
        "key",
    ]
)

_PLACEHOLDER_WORDS = re.compile(
    r"your|xxx|\*\*\*|\.\.\.|example|placeholder|changeme|change_me|dummy|sample|"
    r"redacted|insert|replace|fake|foobar|lorem|secret_?here|token_?here|key_?here|"
    r"<|>|\{\{|\}\}|\$\{|%\(|process\.env|os\.environ|getenv|env\[|environ|"
    r"settings\.|config\.|self\.|this\.|args\.|params\.|request\.|none|null|undefined|"
    r"true|false|string",
    re.IGNORECASE,
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_FUNCTION_CALL = re.compile(r"^[\w.]+\(.*\)?$")
_WORDISH = re.compile(r"^[a-z]+(?:[-_][a-z]+)*$")
_UPPER_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_BASE64 = string.ascii_letters + string.digits + "+/=-_"
_UUID = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$", re.I)


def entropy(value: str, charset: str = _BASE64) -> float:
    """Shannon entropy in bits per character over `charset` (detect-secrets' measure)."""
    if not value:
        return 0.0
    n = len(value)
    total = 0.0
    for ch in set(value):
        if ch in charset:
            p = value.count(ch) / n
            total -= p * math.log2(p)
    return total


def obvious_placeholder(value: str) -> bool:
    """Whatever found it, a value that only stands for a secret (`xoxp-your-token-here`,
    `user:password@`) or is a subresource-integrity hash (`sha384-…`)."""
    return value.lower() in _PLACEHOLDER_VALUES or bool(_OBVIOUS.search(value))


def placeholder(value: str) -> bool:
    """A template, a variable, an example or an obvious non-secret."""
    from detect_secrets.filters.heuristic import (
        is_not_alphanumeric_string,
        is_prefixed_with_dollar_sign,
        is_sequential_string,
        is_templated_secret,
    )

    v = value.strip()
    return (
        is_templated_secret(v)
        or is_prefixed_with_dollar_sign(v)
        or is_not_alphanumeric_string(v)
        or is_sequential_string(v)
        or bool(_PLACEHOLDER_WORDS.search(v))
        or bool(_IDENTIFIER.match(v))
        or bool(_FUNCTION_CALL.match(v))
        or bool(_UPPER_NAME.match(v))
        or bool(_UUID.match(v))
        or bool(_DEMO_START.match(v))
        or bool(_PATHISH.search(v))
        or bool(_EXPRESSION.match(v))
        or v.startswith(("%", "@", "&", "*", "/", "~", "."))
        or len(set(v)) < 4
    )


def looks_secret(value: str, min_length: int = 8) -> bool:
    """A value in a secret's place (after `password =`, `TOKEN=`, `Bearer`) that is one:
    long enough, not a placeholder, and not a plain word."""
    if len(value) < min_length or any(c.isspace() for c in value):
        return False
    if placeholder(value):
        return False
    if _WORDISH.match(value) or value.isalpha():
        # Letters only (a word, `CamelCase`): a secret only when long and random.
        return len(value) >= 20 and entropy(value) > 3.8
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    return classes >= 2


def looks_random(value: str, limit: float = 4.5, min_length: int = 24) -> bool:
    """A random-looking base64/hex string: what detect-secrets' high-entropy plugins
    report, limited to longer strings with letters and digits both."""
    if len(value) < min_length or placeholder(value):
        return False
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return False
    from detect_secrets.plugins.high_entropy_strings import (
        Base64HighEntropyString,
        HexHighEntropyString,
    )

    if all(c in string.hexdigits for c in value):
        return bool(HexHighEntropyString().calculate_shannon_entropy(value) > 3.5)
    return bool(Base64HighEntropyString(limit).calculate_shannon_entropy(value) > limit)
