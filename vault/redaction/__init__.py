"""Secret redaction: every write path replaces secrets by `[REDACTED:<kind>:<tag>]` before
a byte reaches a file (docs/git.md, "Secret redaction")."""

from .detect import KINDS, Finding, find_secrets
from .markers import MARKER, marker
from .redactor import Redactions, Redactor, RedactorCache
from .settings import RedactionConfig, read_config

__all__ = (
    "KINDS",
    "MARKER",
    "Finding",
    "RedactionConfig",
    "Redactions",
    "Redactor",
    "RedactorCache",
    "find_secrets",
    "marker",
    "read_config",
)
