"""`Redactor`: secrets out of messages and frontmatter, before anything is written.

A message's content and every string in its metadata (tool call arguments and results,
thinking, anything) are redacted; so are a session's title, tags and metadata. A value
under a key that names a secret (`"password": "…"`, `"api_key": "…"`) in metadata is a
secret when it looks like one. Identity fields (ids, key fields, times) are left alone.

Each secret becomes `[REDACTED:<kind>:<tag>]` (see markers.py); `Redactions` counts them
by kind, never holding a value.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..records import Message, SessionFile
from .detect import KINDS, RULES, Finding, RuleSet, find_secrets
from .filters import looks_secret
from .markers import MARKER, marker
from .rules import Rule
from .settings import RedactionConfig, config_stamp, read_config

__all__ = ("Redactions", "Redactor", "RedactorCache")

_SECRET_KEY = re.compile(
    r"(?i)^(?:.*[_\-.])?(?:password|passwd|pwd|secret|token|api_?key|apikey|access_?key|"
    r"auth_?key|private_?key|client_?secret|credentials?)(?:[_\-.].*)?$"
)
_FRONTMATTER_TEXT = ("title",)


@dataclass
class Redactions:
    """How many secrets of each kind were redacted (kinds and counts only)."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, n: int = 1) -> None:
        self.counts[kind] += n

    def update(self, other: Redactions) -> None:
        self.counts.update(other.counts)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


class Redactor:
    """Applies one project's settings."""

    def __init__(self, config: RedactionConfig | None = None) -> None:
        self.config = config or RedactionConfig()
        self.rules = RuleSet(RULES, self.config.disable)

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def allowed(self, value: str) -> bool:
        cfg = self.config
        return value in cfg.allow or any(p.search(value) for p in cfg.allow_patterns)

    def findings(self, text: str, triggered: Sequence[Rule] | None = None) -> list[Finding]:
        if not self.config.enabled:
            return []
        allowed = self.allowed if (self.config.allow or self.config.allow_patterns) else None
        return find_secrets(text, self.rules, allowed, triggered)

    def text(self, text: str, counts: Redactions, triggered: Sequence[Rule] | None = None) -> str:
        found = self.findings(text, triggered)
        if not found:
            return text
        parts: list[str] = []
        pos = 0
        for f in found:
            parts.append(text[pos : f.start])
            parts.append(marker(f.kind, text[f.start : f.end]))
            counts.add(f.kind)
            pos = f.end
        parts.append(text[pos:])
        return "".join(parts)

    def value(
        self,
        value: Any,
        counts: Redactions,
        key: str | None = None,
        triggered: Sequence[Rule] | None = None,
    ) -> Any:
        """`value` with secrets redacted at any depth (the same object when none)."""
        if isinstance(value, str):
            kind = self.key_secret(key, value) if key is not None else None
            if kind is not None:
                counts.add(kind)
                return marker(kind, value)
            return self.text(value, counts, triggered)
        if isinstance(value, dict):
            out = {k: self.value(v, counts, str(k), triggered) for k, v in value.items()}
            return value if all(out[k] is value[k] for k in value) else out
        if isinstance(value, list | tuple):
            items = [self.value(v, counts, None, triggered) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return type(value)(items)
        return value

    def message(self, message: Message, counts: Redactions) -> Message:
        if not self.config.enabled:
            return message
        # One trigger pass over the message's strings together, not one per string.
        strings = [message.content]
        _strings(message.metadata, strings)
        joined = "\n".join(s for s in strings if len(s) >= 8)
        triggered = self.rules.triggered(joined.lower()) if joined else []
        content = self.text(message.content, counts, triggered)
        metadata = message.metadata
        if metadata:
            metadata = self.value(metadata, counts, None, triggered)
        if content is message.content and metadata is message.metadata:
            return message
        return replace(message, content=content, metadata=metadata)

    def fields(self, fields: dict[str, Any] | None, counts: Redactions) -> dict[str, Any] | None:
        """Frontmatter fields of a new session (title, tags, metadata, extra)."""
        if not fields or not self.config.enabled:
            return fields
        out = dict(fields)
        for key in (*_FRONTMATTER_TEXT, "topic", "tags", "metadata", "extra"):
            if key in out and out[key] is not None:
                out[key] = self.value(out[key], counts)
        return out

    def session(self, session: SessionFile, counts: Redactions) -> SessionFile:
        """A whole session: frontmatter text fields and every message."""
        if not self.config.enabled:
            return session
        messages = tuple(self.message(m, counts) for m in session.messages)
        return replace(
            session,
            title=self.text(session.title, counts),
            tags=tuple(self.value(list(session.tags), counts)),
            metadata=self.value(session.metadata, counts),
            extra=self.value(session.extra, counts),
            messages=messages,
        )

    def key_secret(self, key: str, value: str) -> str | None:
        """The kind, when `value` is a secret by its key alone (`"password": "…"`)."""
        if not _SECRET_KEY.match(key) or MARKER.search(value):
            return None
        if self.allowed(value) or not looks_secret(value):
            return None
        kind = "password" if re.search(r"(?i)pass|pwd", key) else "secret"
        return None if kind in self.config.disable else kind


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _strings(v, out)


class RedactorCache:
    """The redactor of one vault, rebuilt when its config file changes."""

    def __init__(self, vault_dir: Path) -> None:
        self.vault_dir = vault_dir
        self._stamp: tuple[int, int, int] | None = None
        self._redactor: Redactor | None = None

    def get(self) -> Redactor:
        stamp = config_stamp(self.vault_dir)
        if self._redactor is None or stamp != self._stamp:
            self._redactor = Redactor(read_config(self.vault_dir, KINDS))
            self._stamp = stamp
        return self._redactor
