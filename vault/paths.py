"""Names and places: topic slugs, file names, session-id checks, project-root detection.

Paths are built only here, from the server clock and sanitised slugs; no caller string is
ever joined onto a path.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .errors import InvalidInput, PathOutsideVault, SymlinkRefused, VaultWarning

__all__ = (
    "MAX_SESSION_ID",
    "MAX_TOPIC_CHARS",
    "MAX_TOPIC_IN_FILENAME",
    "VAULT_DIR",
    "ProjectRoot",
    "check_session_id",
    "ensure_inside",
    "find_project_root",
    "session_filename",
    "slugify",
)

VAULT_DIR = ".codearchitect"
MAX_TOPIC_CHARS = 100
MAX_TOPIC_IN_FILENAME = 50
MAX_SESSION_ID = 128

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_BIDI = {"\u061c", "\u200e", "\u200f", *(chr(c) for c in range(0x202A, 0x202F))}
_BIDI |= {chr(c) for c in range(0x2066, 0x206A)}


def slugify(text: str, limit: int = MAX_TOPIC_CHARS) -> str:
    """Lower-case ASCII slug of `[a-z0-9-]`, at most `limit` characters; '' if nothing is left.

    NFKD folds fullwidth and compatibility forms and splits accents off their letters
    (`Ünïcödé` → `unicode`), so `．．／` cannot sneak through as anything but dashes,
    which are then collapsed and trimmed.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    slug = _NON_SLUG.sub("-", folded).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rstrip("-")
    return slug


def session_filename(moment: datetime, topic_slug: str, counter: int = 0) -> str:
    """`session-YYYYMMDD-HHMMSS-<topic>[-N].md`, the topic cut to 50 characters."""
    topic = slugify(topic_slug, MAX_TOPIC_IN_FILENAME) or "untitled"
    suffix = f"-{counter}" if counter else ""
    return f"session-{moment:%Y%m%d-%H%M%S}-{topic}{suffix}.md"


def generated_session_id(filename: str) -> str:
    return filename.removesuffix(".md")


def check_session_id(value: object, field: str = "session") -> str:
    """Validate a caller-chosen session id; it is stored in frontmatter, never used as a path."""
    if not isinstance(value, str):
        raise InvalidInput(f"'{field}' must be a string", field=field)
    if not value or not value.strip():
        raise InvalidInput(f"'{field}' must not be empty", field=field)
    if len(value) > MAX_SESSION_ID:
        raise InvalidInput(f"'{field}' is longer than {MAX_SESSION_ID} characters", field=field)
    if value != value.strip():
        raise InvalidInput(f"'{field}' must not start or end with white space", field=field)
    for ch in value:
        if ch in "/\\" or ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise PathOutsideVault(
                f"'{field}' holds a character that is not allowed: {ch!r}", field=field
            )
    if ".." in unicodedata.normalize("NFKC", value):
        raise PathOutsideVault(f"'{field}' must not contain '..'", field=field)
    return value


def ensure_inside(base: Path, candidate: Path) -> Path:
    """Return `candidate`'s real path if it lies inside `base` (compared on real paths)."""
    real_base = os.path.realpath(base)
    real = os.path.realpath(candidate)
    if os.path.commonpath([real_base, real]) != real_base:
        raise PathOutsideVault(f"Path leaves the vault: {candidate}")
    return Path(real)


def refuse_symlink(path: Path) -> None:
    """Raise `SymlinkRefused` if `path` itself is a symbolic link."""
    if path.is_symlink():
        raise SymlinkRefused(f"Refusing to follow a symbolic link inside the vault: {path}")


@dataclass(frozen=True)
class ProjectRoot:
    """The detected project root and the warning when it fell back to the working directory."""

    path: Path
    warning: VaultWarning | None = None


def find_project_root(
    explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None
) -> ProjectRoot:
    """`explicit`, else `$CODEARCHITECT_ROOT`, else the nearest ancestor of the working
    directory holding `.codearchitect/` or `.git/`, else the working directory with the
    non-fatal `PROJECT_ROOT_NOT_FOUND` warning (seed 003)."""
    if explicit is not None and str(explicit):
        return ProjectRoot(Path(explicit).expanduser().resolve())
    env = os.environ.get("CODEARCHITECT_ROOT")
    if env:
        return ProjectRoot(Path(env).expanduser().resolve())
    here = (cwd or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / VAULT_DIR).is_dir() or (candidate / ".git").exists():
            return ProjectRoot(candidate)
    warning = VaultWarning("PROJECT_ROOT_NOT_FOUND", "Using current directory as project root")
    return ProjectRoot(here, warning)
