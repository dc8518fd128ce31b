"""What a clone without the merge driver is left with, found and put right.

- `scan` finds session files holding git's conflict markers (outside the text of a message
  that was stored that way), messages kept twice by a merge conflict, and session ids
  claimed by several files (the same named session created on two machines);
- `resolve_file` merges a file's two sides by the driver's rule: from git's index when
  the path is still unmerged there (base, ours, theirs), else from the markers in the
  file; it writes through the vault's atomic rewrite and marks the path resolved in git;
- `fold` puts every message of the files claiming one session id into the file whose
  path sorts first (the same file on every clone) and moves the others to the trash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import files
from ..errors import MalformedSessionFile, VaultError
from ..lookup import head_id
from ..parsing import parse
from ..vault import Vault
from . import markers, repo
from .merge import CONFLICT_KEY, merge

__all__ = ("Finding", "Resolution", "ambiguous", "fold", "resolve_file", "scan", "skip_ranges")


@dataclass(frozen=True)
class Finding:
    """Something `doctor` reports: a code, a file, a 1-based line and what to do."""

    code: str
    path: Path
    line: int
    message: str

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "path": str(self.path),
            "line": self.line,
            "message": self.message,
        }


@dataclass(frozen=True)
class Resolution:
    path: Path
    messages: int
    conflicts: tuple[str, ...]
    source: str  # "git index", "conflict markers" or "fold of N files"


def scan(vault: Vault) -> list[Finding]:
    """Conflict markers, messages kept twice by a merge, and ids claimed by several files."""
    found: list[Finding] = []
    for path in vault.session_paths():
        try:
            data, _ = files.read_bytes(path)
        except (OSError, VaultError):
            continue
        if b"<<<<<<<" in data:
            hunk = _first_hunk(data, path)
            if hunk is not None:
                found.append(
                    Finding(
                        "CONFLICT_MARKERS",
                        path,
                        hunk,
                        "git conflict markers (resolve: codearchitect resolve)",
                    )
                )
        if CONFLICT_KEY.encode() in data:
            found.extend(_kept_twice(data, path))
    for session_id, paths in ambiguous(vault):
        ordered = sorted(paths)
        others = ", ".join(str(p) for p in ordered[1:])
        found.append(
            Finding(
                "AMBIGUOUS",
                ordered[0],
                1,
                f"session {session_id} is also claimed by {others} "
                "(fold them: codearchitect resolve)",
            )
        )
    return found


def skip_ranges(data: bytes, path: Path | None = None) -> tuple[tuple[int, int], ...]:
    """The blocks of messages stored as they are: marker lines there are their text."""
    try:
        parsed = parse(data, path)
    except VaultError:
        return ()
    return tuple(
        (parsed.message_starts[i], parsed.message_ends[i])
        for i, m in enumerate(parsed.session.messages)
        if not m.edited
    )


def resolve_file(vault: Vault, path: Path) -> Resolution | None:
    """Merge a file's conflict by the driver's rule; None when it has none."""
    top = repo.toplevel(path)
    stages = repo.unmerged(top, path) if top is not None else {}
    if 2 in stages and 3 in stages:
        base, ours, theirs = stages.get(1), stages[2], stages[3]
        result = merge(base, ours, theirs, path)
        vault.rewrite_file(path, lambda _data: result.data, _lock_name(path))
        if top is not None:
            repo.add(top, path)
        return Resolution(path, result.messages, result.conflicts, "git index")
    data, _ = files.read_bytes(path)
    if markers.sides(data, skip_ranges(data, path)) is None:
        return None
    outcome: list[Resolution] = []

    def edit(current: bytes) -> bytes:
        sides = markers.sides(current, skip_ranges(current, path))
        if sides is None:
            outcome.clear()
            return current
        result = merge(sides.base, sides.ours, sides.theirs, path)
        outcome[:] = [Resolution(path, result.messages, result.conflicts, "conflict markers")]
        return result.data

    vault.rewrite_file(path, edit, _lock_name(path))
    if top is not None and stages:
        repo.add(top, path)
    return outcome[0] if outcome else None


def fold(vault: Vault, session_id: str, paths: list[Path]) -> Resolution:
    """Every message of `paths` (files claiming `session_id`) into the first of them."""
    ordered = sorted(paths)
    target, others = ordered[0], ordered[1:]
    extra = [files.read_bytes(p)[0] for p in others]
    outcome: list[Resolution] = []

    def edit(current: bytes) -> bytes:
        data = current
        conflicts: list[str] = []
        count = 0
        for other in extra:
            result = merge(None, data, other, target)
            data, count = result.data, result.messages
            conflicts.extend(result.conflicts)
        outcome[:] = [Resolution(target, count, tuple(conflicts), f"fold of {len(paths)} files")]
        return data

    vault.rewrite_file(target, edit, session_id)
    for other in others:
        vault.trash_file(other, session_id)
    return outcome[0]


def ambiguous(vault: Vault) -> Iterator[tuple[str, list[Path]]]:
    """Session ids claimed by several files."""
    for session_id, paths in sorted(vault.session_ids().items()):
        if len(paths) > 1:
            yield session_id, paths


def _first_hunk(data: bytes, path: Path) -> int | None:
    found = markers.hunks(data, skip_ranges(data, path))
    return found[0].line if found else None


def _kept_twice(data: bytes, path: Path) -> list[Finding]:
    try:
        messages = parse(data, path).session.messages
    except MalformedSessionFile:
        return []
    ids = {m.id for m in messages}
    out = []
    for m in messages:
        conflict = m.metadata.get(CONFLICT_KEY)
        if isinstance(conflict, dict) and conflict.get("of") in ids:
            out.append(
                Finding(
                    "MERGE_CONFLICT",
                    path,
                    m.line,
                    f"message {conflict['of']} was edited differently on two sides and is "
                    f"kept twice (as {m.id}): keep one, delete the other block",
                )
            )
    return out


def _lock_name(path: Path) -> str:
    return head_id(path) or path.stem
