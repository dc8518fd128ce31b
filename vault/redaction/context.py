"""Secrets found by where they stand: private-key blocks, `password = "…"` (detect-secrets'
keyword patterns), `API_KEY=…` in env dumps, `Authorization: Bearer …` headers,
`"access_token": "…"`, and random-looking strings assigned to anything.

Line-based patterns run only in windows around their keyword, so a long text costs one
substring search per keyword, not a regex over every line.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

from .filters import looks_random, looks_secret
from .rules import CONTEXT, ENTROPY, Found, Rule, Span, windows

__all__ = ("CONTEXT_RULES",)

# ------------------------------------------------------------------ private keys

_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:.*?-----END \1-----|[A-Za-z0-9+/=\s\\:,-]*)",
    re.DOTALL,
)


_BODY = re.compile(r"[A-Za-z0-9+/=]{40,}")


def _private_keys(text: str, lower: str) -> Iterator[Span]:
    """A PEM block (real or `\\n`-escaped newlines, as in a JSON credentials file), whole;
    a block cut before its END line up to where its base64 stops. detect-secrets'
    PrivateKeyDetector headers say which blocks are keys; PuTTY files from the header on."""
    for m in _PEM.finditer(text):
        from detect_secrets.plugins.private_key import PrivateKeyDetector  # a block: load it

        block = m.group(0)
        if any(p.search(block[:60]) for p in PrivateKeyDetector.denylist) and _BODY.search(block):
            yield m.span()
    start = text.find("PuTTY-User-Key-File-")
    while start >= 0:
        mac = text.find("Private-MAC:", start)
        line_end = text.find("\n", mac) if mac >= 0 else -1
        end = line_end if line_end >= 0 else len(text)
        yield start, end
        start = text.find("PuTTY-User-Key-File-", end)


# ------------------------------------------------------------------ keyword assignments

_KEYWORD_NEEDLE = re.compile(
    r"api_?key|auth_?key|service_?key|account_?key|db_?key|database_?key|priv_?key|"
    r"private_?key|client_?key|db_?pass|database_?pass|key_?pass|password|passwd|pwd|"
    r"secret|contrase[ñn]a"
)
_PASSWORD_WORDS = ("pass", "pwd", "contrase")
_UNQUOTED_PASSWORD = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:password|passwd|pwd)\s*=\s*([^\s;'\"&,<>(){}\[\]]{8,})"
)


def _keywords(text: str, lower: str) -> Iterator[Found]:
    for start, end in windows(text, lower, _KEYWORD_NEEDLE, 80, 400):
        piece = text[start:end]
        found = False
        # Every one of detect-secrets' quotes-required patterns needs a quote: a window
        # without one cannot match them (and does not load detect-secrets, ~0.1 s).
        patterns = _quoted_keyword_patterns() if _QUOTES.search(piece) else {}
        for pattern, group in patterns.items():
            for m in pattern.finditer(piece):
                value = m.group(group)
                if not value or not looks_secret(value, 6):
                    continue
                from detect_secrets.filters.heuristic import is_indirect_reference

                if is_indirect_reference(piece[max(0, m.start() - 40) : m.end()]):
                    continue
                found = True
                said = m.group(0).lower()
                kind = "password" if any(w in said for w in _PASSWORD_WORDS) else "secret"
                yield start + m.start(group), start + m.end(group), kind
        if not found:
            for m in _UNQUOTED_PASSWORD.finditer(piece):
                if looks_secret(m.group(1)):
                    yield start + m.start(1), start + m.end(1), "password"


_QUOTES = re.compile("['\"`]")


def _quoted_keyword_patterns() -> dict[re.Pattern[str], int]:
    from detect_secrets.plugins.keyword import QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP

    patterns: dict[re.Pattern[str], int] = QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
    return patterns


_KEYWORD_TRIGGERS = ("key", "pass", "pwd", "secret", "contrase")

# ------------------------------------------------------------------ env dumps, headers, tokens

_ENV = re.compile(
    r"(?<![A-Za-z0-9_])((?:[A-Z][A-Z0-9]*_)*"
    r"(?:[A-Z0-9]*KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|CREDENTIALS?|AUTH)(?:_[A-Z0-9]+)*)"
    r"[ \t]*[=:][ \t]*([\"']?)([^\s\"'`]{8,})\2"
)
_ENV_TRIGGERS = ("key", "token", "secret", "pass", "pwd", "credential", "auth")
_ENV_WORDS = ("KEY", "TOKEN", "SECRET", "PASS", "PWD", "CREDENTIAL", "AUTH")


def _env_kind(name: str) -> str:
    if "PASS" in name or "PWD" in name:
        return "password"
    if "AWS" in name and "SECRET" in name:
        return "aws-secret-key"
    return "secret"


def _env(text: str, lower: str) -> Iterator[Found]:
    if not any(w in text for w in _ENV_WORDS):
        return
    for m in _ENV.finditer(text):
        if looks_secret(m.group(3)):
            yield m.start(3), m.end(3), _env_kind(m.group(1))


_HEADER = re.compile(
    r"(?i)\b(?:authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?"
    r"(?:bearer|token|basic|bot|apikey)\s+([A-Za-z0-9._~+/=\-]{12,})"
    r"|\b(?:x-api-key|api-key|x-auth-token|private-token|x-access-token|apikey)[\"']?\s*[:=]\s*[\"']?"
    r"([A-Za-z0-9._~+/=\-]{16,})"
)


def _headers(text: str, lower: str) -> Iterator[Span]:
    for m in _HEADER.finditer(text):
        group = 1 if m.group(1) else 2
        if looks_secret(m.group(group)):
            yield m.span(group)


_TOKEN_FIELD = re.compile(
    r"(?i)(?:token|secret|credential)[\w-]*[\"']?\s*[:=]\s*[\"']([A-Za-z0-9._~+/=\-]{16,})[\"']"
)


def _token_fields(text: str, lower: str) -> Iterator[Span]:
    for m in _TOKEN_FIELD.finditer(text):
        if looks_secret(m.group(1), 16) and looks_random(m.group(1), 3.5, 16):
            yield m.span(1)


_NO_USER_URL = re.compile(r"://:([^\s:@/]{6,})@")


def _no_user_urls(text: str, lower: str) -> Iterator[Span]:
    for m in _NO_USER_URL.finditer(text):
        if not m.group(1).startswith("[REDACTED"):
            yield m.span(1)


# ------------------------------------------------------------------ random-looking strings

_QUOTED = re.compile(r"([\"'])([A-Za-z0-9+/=_\-]{24,})\1")
_ASSIGN_BEFORE = re.compile(r"[=:]\s*$")


_ID_BEFORE = re.compile(r"(?:\bid|_id|Id|ID|_key|Key|KEY)[\"']?\s*[:=]\s*$")


_HOSTNAME = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+$")


def _encoded_text(value: str) -> bool:
    """Base64 of readable text (a hostname, a sentence): encoded, not random."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return False
    return decoded.isprintable() and (
        not looks_secret(decoded) or " " in decoded or bool(_HOSTNAME.match(decoded))
    )


def _entropy(text: str, lower: str) -> Iterator[Span]:
    """detect-secrets' high-entropy plugins on quoted strings in assignments: base64
    strings over 4.5 bits a character (pure hex is left to the context rules: commit and
    content hashes are hex and everywhere)."""
    for m in _QUOTED.finditer(text):
        if not _ASSIGN_BEFORE.search(text, max(0, m.start() - 8), m.start()):
            continue
        from detect_secrets.filters.heuristic import is_likely_id_string  # a candidate: load it

        line = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
        if is_likely_id_string(m.group(2), line + m.group(0)) or _ID_BEFORE.search(line):
            continue
        if _encoded_text(m.group(2)):
            continue
        value = m.group(2)
        if all(c in "0123456789abcdefABCDEF" for c in value):
            continue
        if looks_random(value):
            yield m.span(2)


CONTEXT_RULES: tuple[Rule, ...] = (
    Rule("private-key", ("private key", "putty-user-key-file-"), _private_keys, CONTEXT + 2, False),
    Rule("password", _KEYWORD_TRIGGERS, _keywords, CONTEXT, extend=False),
    Rule("secret", _ENV_TRIGGERS, _env, CONTEXT, extend=False),
    Rule("auth-header", ("auth", "api-key", "apikey", "token"), _headers, CONTEXT, extend=False),
    Rule("secret", ("token", "secret", "credential"), _token_fields, CONTEXT, extend=False),
    Rule("basic-auth", ("://:",), _no_user_urls, CONTEXT, extend=False),
    Rule("high-entropy-string", ("=", ":"), _entropy, ENTROPY, extend=False),
)
