"""What a write may put in a file, checked before the file is touched.

A new or rewritten session file is rendered in memory, then parsed back here before the
rename: a file we could not read back (frontmatter over 64 KB, say) is never written, so a
failed call changes nothing (issue 14: a 70,000-character title used to replace the file,
then the session answered MALFORMED_SESSION_FILE and vanished from search). Metadata
values must be standard JSON: no NaN or infinity, no unpaired surrogate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .errors import InvalidInput, MalformedSessionFile
from .parsing import parse
from .records import KEY_FIELDS, MAX_FRONTMATTER_BYTES, SessionFile

__all__ = ("check_json_value", "check_rendered")

_SIZED_FIELDS = ("title", "tags", "metadata", "extra", *KEY_FIELDS)


def check_rendered(data: bytes, session: SessionFile, path: Path | None = None) -> bytes:
    """`data`, the rendering of `session`, if it parses back to the same session id and
    messages; else `InvalidInput` naming the field that made it unreadable."""
    try:
        parsed = parse(data, path)
    except MalformedSessionFile as exc:
        field = _largest_field(session)
        raise InvalidInput(
            f"The session file would not be readable ({exc.reason}); the frontmatter is "
            f"limited to {MAX_FRONTMATTER_BYTES // 1024} KB and '{field}' is its largest part",
            field=field,
            details=exc.reason,
        ) from exc
    written = [m.id for m in parsed.session.messages]
    if parsed.session.id != session.id or written != [m.id for m in session.messages]:
        raise InvalidInput(  # pragma: no cover - the renderer's own guards come first
            "The session file would not read back as written", details=str(path or "")
        )
    return data


def check_json_value(value: object, field: str) -> None:
    """Refuse what standard JSON cannot carry: NaN, infinities (e.g. 1e999), unpaired
    surrogates, and values that are not JSON at all."""
    problem = _json_problem(value)
    if problem is not None:
        raise InvalidInput(f"'{field}' holds {problem}", field=field)


def _json_problem(value: object) -> str | None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return f"{item!r}, which is not a JSON number; send a finite number or a string"
        elif isinstance(item, str):
            if not _encodes(item):
                return "an unpaired surrogate"
        elif isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str) or not _encodes(key):
                    return f"a key that is not text: {key!r}"
                stack.append(inner)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            return f"a value that is not JSON: {type(item).__name__}"
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _largest_field(session: SessionFile) -> str:
    def size(name: str) -> int:
        return len(json.dumps(getattr(session, name), ensure_ascii=False, default=str))

    return max(_SIZED_FIELDS, key=size)
