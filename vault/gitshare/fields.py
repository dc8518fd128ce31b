"""The frontmatter of a merged session, field by field.

Each field is merged three ways: a value both sides agree on is kept; a value one side
changed since the base is taken; a value both sides changed differently is taken from
the side whose `updated` is later (the larger value when they tie, so the result is the
same whichever side merges into which). Some fields have their own rule:

- `updated`: the later of the two; `created`: the earlier;
- `tags`: a set (a tag added on either side is in, a tag removed on one side and kept
  on the other is out); kept in the base's order, new tags sorted after;
- `metadata` and keys nobody knows: key by key, by the rule above (a key removed on one
  side and unchanged on the other is removed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..frontmatter_reader import session_from
from ..records import Message, SessionFile

__all__ = ("merge_frontmatter",)

_MISSING: Any = object()
_OWN_RULE = frozenset({"id", "created", "updated", "tags", "metadata"})


def merge_frontmatter(
    base: SessionFile | None, ours: SessionFile, theirs: SessionFile
) -> SessionFile:
    """The merged session fields (no messages)."""
    b = base.frontmatter() if base is not None else {}
    o = ours.frontmatter()
    t = theirs.frontmatter()
    ours_later = _later(o.get("updated"), t.get("updated"))
    out: dict[str, Any] = {}
    out["id"] = _scalar(b.get("id", _MISSING), o["id"], t["id"], ours_later)
    out["created"] = _pick(b.get("created", _MISSING), o["created"], t["created"], min)
    updated = [v for v in (o.get("updated"), t.get("updated")) if v is not None]
    if updated:
        out["updated"] = max(updated)
    out["tags"] = tuple(_tags(b.get("tags"), o["tags"], t["tags"]))
    out["metadata"] = _mapping(b.get("metadata", {}), o["metadata"], t["metadata"], ours_later)
    rest = _mapping(
        {k: v for k, v in b.items() if k not in _OWN_RULE},
        {k: v for k, v in o.items() if k not in _OWN_RULE},
        {k: v for k, v in t.items() if k not in _OWN_RULE},
        ours_later,
    )
    out.update(rest)
    return session_from(out, tuple[Message, ...]())


def _later(ours: object, theirs: object) -> bool | None:
    """True when ours was updated later, False when theirs was, None on a tie."""
    o = ours if isinstance(ours, str) else ""
    t = theirs if isinstance(theirs, str) else ""
    if o == t:
        return None
    return o > t


def _scalar(base: Any, ours: Any, theirs: Any, ours_later: bool | None) -> Any:
    if _same(ours, theirs):
        return ours
    if _same(base, ours):
        return theirs
    if _same(base, theirs):
        return ours
    if ours_later is None:
        return max(ours, theirs, key=_key)
    return ours if ours_later else theirs


def _pick(base: Any, ours: Any, theirs: Any, choose: Any) -> Any:
    if _same(ours, theirs) or _same(base, theirs):
        return ours
    if _same(base, ours):
        return theirs
    return choose(ours, theirs)


def _tags(base: list[str] | None, ours: list[str], theirs: list[str]) -> list[str]:
    if ours == theirs or (base is not None and base == theirs):
        return list(ours)
    if base is not None and base == ours:
        return list(theirs)
    old = list(base or [])
    gone = {t for t in old if t not in ours or t not in theirs}
    kept = [t for t in dict.fromkeys(old) if t not in gone]
    new = sorted({t for t in (*ours, *theirs) if t not in old})
    return kept + new


def _mapping(
    base: Mapping[str, Any], ours: Mapping[str, Any], theirs: Mapping[str, Any], later: bool | None
) -> dict[str, Any]:
    if _same(ours, theirs) or _same(base, theirs):
        return dict(ours)
    if _same(base, ours):
        return dict(theirs)
    keys = [k for k in base if k in ours or k in theirs]
    keys += sorted((set(ours) | set(theirs)) - set(base))
    out: dict[str, Any] = {}
    for key in keys:
        value = _scalar(
            base.get(key, _MISSING), ours.get(key, _MISSING), theirs.get(key, _MISSING), later
        )
        if value is not _MISSING:
            out[key] = value
    return out


def _same(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    return type(a) is type(b) and a == b


def _key(value: Any) -> str:
    if value is _MISSING:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
