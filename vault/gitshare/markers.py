"""Git's conflict markers in a file: find them, and read back each side's text.

A conflict hunk, as git writes it (the `|||||||` part only with `merge.conflictStyle
diff3` or `zdiff3`)::

    <<<<<<< ours-label
    ours
    ||||||| base-label
    base
    =======
    theirs
    >>>>>>> theirs-label

Only whole hunks count: a lone `=======` line (a Markdown heading underline) is text.
This module works on bytes and imports nothing from the vault.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("Hunk", "Sides", "first_side", "hunks", "sides")

_OPEN = b"<<<<<<<"
_BASE = b"|||||||"
_SPLIT = b"======="
_CLOSE = b">>>>>>>"


@dataclass(frozen=True)
class Hunk:
    """One conflict hunk: byte offsets of its lines, its 1-based first line, and the
    three texts (`base` is None without diff3 style)."""

    start: int
    end: int
    line: int
    ours: bytes
    base: bytes | None
    theirs: bytes


@dataclass(frozen=True)
class Sides:
    """A file with conflict markers read back as its two sides (and base, when every
    hunk carried one)."""

    ours: bytes
    theirs: bytes
    base: bytes | None


def hunks(data: bytes, skip: tuple[tuple[int, int], ...] = ()) -> list[Hunk]:
    """Every whole conflict hunk of `data`, in order; hunks that start inside one of the
    `skip` ranges (start, end) are text, not conflicts."""
    if _OPEN not in data:
        return []
    found: list[Hunk] = []
    lines = _lines(data)
    i = 0
    while i < len(lines):
        start, end = lines[i]
        if _is_marker(data, start, end, _OPEN) and not _inside(start, skip):
            read = _read_hunk(data, lines, i)
            if read is not None:
                found.append(read[0])
                i = read[1]
                continue
        i += 1
    return found


def sides(data: bytes, skip: tuple[tuple[int, int], ...] = ()) -> Sides | None:
    """The file as each side wrote it, or None when it holds no conflict hunk."""
    found = hunks(data, skip)
    if not found:
        return None
    ours, theirs, base = [], [], []
    with_base = all(h.base is not None for h in found)
    pos = 0
    for h in found:
        common = data[pos : h.start]
        ours += [common, h.ours]
        theirs += [common, h.theirs]
        base += [common, h.base or b""]
        pos = h.end
    tail = data[pos:]
    return Sides(
        b"".join([*ours, tail]),
        b"".join([*theirs, tail]),
        b"".join([*base, tail]) if with_base else None,
    )


def first_side(data: bytes) -> bytes:
    """`data` with every conflict hunk replaced by its first (ours) side."""
    found = sides(data)
    return data if found is None else found.ours


def _lines(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each line, `end` just past its newline."""
    out = []
    pos = 0
    size = len(data)
    while pos < size:
        nl = data.find(b"\n", pos)
        end = size if nl < 0 else nl + 1
        out.append((pos, end))
        pos = end
    return out


def _is_marker(data: bytes, start: int, end: int, marker: bytes) -> bool:
    line = data[start:end].rstrip(b"\r\n")
    if not line.startswith(marker):
        return False
    rest = line[len(marker) :]
    if marker == _SPLIT:
        return not rest
    return not rest or rest[:1] == b" "


def _read_hunk(data: bytes, lines: list[tuple[int, int]], i: int) -> tuple[Hunk, int] | None:
    """The hunk opening at line `i` and the index of the line after it, or None."""
    base_at = split_at = close_at = -1
    for j in range(i + 1, len(lines)):
        start, end = lines[j]
        if _is_marker(data, start, end, _OPEN):
            return None
        if split_at < 0 and base_at < 0 and _is_marker(data, start, end, _BASE):
            base_at = j
        elif split_at < 0 and _is_marker(data, start, end, _SPLIT):
            split_at = j
        elif split_at >= 0 and _is_marker(data, start, end, _CLOSE):
            close_at = j
            break
    if close_at < 0:
        return None
    first = lines[i]
    split = lines[split_at]
    if base_at >= 0:
        ours = data[first[1] : lines[base_at][0]]
        base: bytes | None = data[lines[base_at][1] : split[0]]
    else:
        ours = data[first[1] : split[0]]
        base = None
    theirs = data[split[1] : lines[close_at][0]]
    line = data.count(b"\n", 0, first[0]) + 1
    return Hunk(first[0], lines[close_at][1], line, ours, base, theirs), close_at + 1


def _inside(offset: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(a < offset < b for a, b in ranges)
