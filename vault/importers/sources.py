"""Reading export files: `conversations.json` or the export `.zip`, streamed.

- A zip is never extracted: members are read as streams. Members whose names hold `..`,
  start with `/` or `\\`, or name a drive (`C:`) are refused and reported (zip-slip).
- A JSON array is decoded one element at a time, so a large export is held in memory at
  most once, and a cut-off file (the ShareGPT-style truncation) yields every complete
  element and then a problem naming where it stopped. A file that is a single object, or
  several objects one after another (JSON lines), works too.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from .common import Skip

__all__ = ("ExportStream", "JsonProblem", "iter_json_items", "open_exports")

_CHUNK = 1 << 20
_WS = " \t\r\n"


@dataclass(frozen=True)
class JsonProblem:
    """Where decoding stopped: the index of the element and a reason."""

    index: int
    reason: str


class CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (for progress)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


@dataclass
class ExportStream:
    """One JSON document to read: a label for reports, a byte stream, and its size."""

    label: str
    stream: CountingReader
    size: int


def open_exports(path: Path, skipped: list[Skip]) -> Iterator[ExportStream]:
    """The JSON documents of an export path: the file itself, or the `conversations.json`
    members of a zip. Unsafe or unreadable members are added to `skipped`."""
    if zipfile.is_zipfile(path):
        yield from _zip_members(path, skipped)
        return
    with open(path, "rb") as raw:
        yield ExportStream(str(path), CountingReader(raw), path.stat().st_size)


def export_items(export: ExportStream, skipped: list[Skip]) -> Iterator[tuple[str, Any]]:
    """(label, value) for each conversation of an export document; a cut-off or malformed
    document is reported in `skipped` under its item's label."""
    for item in iter_json_items(export.stream):
        if isinstance(item, JsonProblem):
            skipped.append((f"{export.label} item {item.index}", item.reason))
            continue
        index, value = item
        yield f"{export.label} item {index}", value


def iter_json_items(stream: io.RawIOBase) -> Iterator[tuple[int, Any] | JsonProblem]:
    """(index, value) for each element of a top-level array, or each top-level value.

    The stream is decoded incrementally with `raw_decode`; when an element is incomplete,
    more is read (at least as much again, so a huge element costs O(size)). At the end of a
    cut-off or malformed document a `JsonProblem` is yielded and iteration stops.
    """
    text = io.TextIOWrapper(io.BufferedReader(stream), encoding="utf-8-sig", newline="")
    decoder = json.JSONDecoder()
    buf = ""
    pos = 0
    eof = False
    index = 0
    in_array: bool | None = None
    offset = 0  # characters dropped from the front of buf

    def more(at_least: int) -> bool:
        nonlocal buf, pos, eof, offset
        try:
            chunk = text.read(max(_CHUNK, at_least))
        except UnicodeDecodeError as exc:
            raise _Stop(f"invalid UTF-8 near character {offset + len(buf)}: {exc.reason}") from exc
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise _Stop(f"read error near character {offset + len(buf)}: {exc}") from exc
        if not chunk:
            eof = True
            return False
        offset += pos
        buf = buf[pos:] + chunk
        pos = 0
        return True

    def skip_ws() -> str:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in _WS:
                pos += 1
            if pos < len(buf):
                return buf[pos]
            if not more(0):
                return ""

    try:
        first = skip_ws()
        if not first:
            yield JsonProblem(0, "empty file")
            return
        in_array = first == "["
        if in_array:
            pos += 1
        while True:
            ch = skip_ws()
            if in_array:
                if ch == "]":
                    return
                if index and ch == ",":
                    pos += 1
                    ch = skip_ws()
                elif index:
                    yield JsonProblem(index, _where(ch, offset + pos, "expected ',' or ']'"))
                    return
            if not ch:
                if in_array:
                    yield JsonProblem(index, f"cut off after {index} complete items (no ']')")
                return
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    if eof or not more(len(buf)):
                        yield JsonProblem(
                            index,
                            f"cut off or malformed at character {offset + exc.pos}: {exc.msg}",
                        )
                        return
                    continue
                if end == len(buf) and not eof and more(0):
                    continue  # a bare number may continue in the next chunk
                break
            pos = end
            yield index, value
            index += 1
    except _Stop as stop:
        yield JsonProblem(index, stop.reason)
    finally:
        text.detach()


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _where(ch: str, at: int, expected: str) -> str:
    return f"{expected} at character {at}, found {ch!r}" if ch else f"{expected}; file ends"


def _zip_members(path: Path, skipped: list[Skip]) -> Iterator[ExportStream]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        skipped.append((str(path), f"cannot open the zip: {exc}"))
        return
    with archive:
        wanted = []
        for info in archive.infolist():
            if not _safe_member(info.filename):
                skipped.append(
                    (f"{path}!{info.filename}", "unsafe member name (zip-slip); not read")
                )
                continue
            if PurePosixPath(info.filename).name == "conversations.json" and not info.is_dir():
                wanted.append(info)
        if not wanted:
            skipped.append((str(path), "no conversations.json in the archive"))
        for info in wanted:
            try:
                member = archive.open(info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                skipped.append((f"{path}!{info.filename}", f"cannot read member: {exc}"))
                continue
            with member:
                yield ExportStream(
                    f"{path}!{info.filename}", CountingReader(member), info.file_size
                )


def _safe_member(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or "\x00" in name:
        return False
    if len(name) > 1 and name[1] == ":":
        return False
    parts = name.replace("\\", "/").split("/")
    return ".." not in parts
