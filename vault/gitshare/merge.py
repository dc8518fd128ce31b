"""The three-way merge of a session file by message id (git's merge driver, `resolve`).

`merge(base, ours, theirs)` reads the three versions with the vault's parser and writes
the result with its renderer:

- every message of either side once, ordered by time then id, so the result is the same
  bytes whichever side merges into which;
- a message deleted on one side and unchanged on the other stays deleted; edited on one
  side only, the edit is taken; edited on one side and deleted on the other, the edit is
  kept (nothing is lost);
- edited differently on both sides (or added on both under one id with different
  content): both versions are kept side by side, the second under a derived id
  (`<id>.conflict-<hash>`, its metadata saying `merge_conflict`) after a visible note;
  only then is the merge reported as a conflict;
- the frontmatter field by field (see `fields`); notes typed between blocks and after
  the title three ways as text (both changed: both kept).

Blocks are copied byte for byte from the side they come from (a hand edit stays marked
`edited`, an older layout stays as it was); a block that would not read back the same
where it lands (one typed by hand without id or time) is written by the renderer. The
result is parsed again before it is returned.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import MalformedSessionFile, VaultError
from ..parsing import parse
from ..records import MESSAGE_ID, Message, SessionFile
from ..rendering import dumps, render_frontmatter, render_message, title_line
from .fields import merge_frontmatter

__all__ = ("CONFLICT_KEY", "Merged", "conflict_note", "merge")

# The metadata key of the second version of a message edited on both sides.
CONFLICT_KEY = "merge_conflict"
_ALONE_HEAD = b"---\nid: alone\ncreated: alone\n---\n"


@dataclass(frozen=True)
class Merged:
    """A merge's bytes, its message count, and the ids of messages edited differently on
    both sides (kept twice; the merge is a conflict only when this is not empty)."""

    data: bytes
    messages: int
    conflicts: tuple[str, ...] = ()


def merge(base: bytes | None, ours: bytes, theirs: bytes, path: Path | None = None) -> Merged:
    """Merge two versions of a session file; `base` is their common ancestor (None or
    empty when there is none, e.g. a file added on both sides). Raises
    `MalformedSessionFile` when ours or theirs cannot be parsed; a base that cannot be
    parsed counts as no base."""
    if ours == theirs or (base is not None and base == theirs):
        return Merged(ours, _count(ours, path))
    if base is not None and base == ours:
        return Merged(theirs, _count(theirs, path))
    o = _Side.read(ours, path)
    t = _Side.read(theirs, path)
    b: _Side | None = None
    if base:
        try:
            b = _Side.read(base, path)
        except VaultError:
            b = None
    return _Merge(b, o, t).run(path)


def conflict_note(message_id: str, copy_id: str) -> str:
    """The visible note written before the second version of a conflicting message."""
    return (
        f"\n> [!WARNING]\n> Merge conflict: message `{message_id}` was edited differently on"
        f" two sides; both versions are kept, this one as `{copy_id}`. Keep one: delete the"
        " other block and this note.\n"
    )


@dataclass(frozen=True)
class _Side:
    """One version of the file, cut into the pieces the merge works on."""

    session: SessionFile
    head: bytes
    titled: bool
    preamble: bytes
    epilogue: bytes
    messages: dict[str, Message]
    blocks: dict[str, bytes]
    gaps: dict[str, bytes]

    @classmethod
    def read(cls, data: bytes, path: Path | None) -> _Side:
        parsed = parse(data, path)
        session = parsed.session
        stop = len(data) if parsed.torn_offset is None else parsed.torn_offset
        starts, ends = parsed.message_starts, parsed.message_ends
        first = starts[0] if starts else stop
        body = data[parsed.body_offset : first]
        title = title_line(session).encode("utf-8")
        titled = body.startswith(title)
        messages: dict[str, Message] = {}
        blocks: dict[str, bytes] = {}
        gaps: dict[str, bytes] = {}
        for i, message in enumerate(session.messages):
            messages[message.id] = message
            block = data[starts[i] : ends[i]]
            blocks[message.id] = block if block.endswith(b"\n") else block + b"\n"
            if i:
                gaps[message.id] = data[ends[i - 1] : starts[i]]
        return cls(
            replace(session, messages=()),
            data[: parsed.body_offset],
            titled,
            body[len(title) :] if titled else body,
            data[ends[-1] : stop] if ends else b"",
            messages,
            blocks,
            gaps,
        )


@dataclass
class _Piece:
    message: Message
    block: bytes
    gap: bytes


class _Merge:
    def __init__(self, base: _Side | None, ours: _Side, theirs: _Side) -> None:
        self.b, self.o, self.t = base, ours, theirs
        self.conflicts: list[str] = []

    def run(self, path: Path | None) -> Merged:
        b, o, t = self.b, self.o, self.t
        session = merge_frontmatter(b.session if b else None, o.session, t.session)
        head = self._head(session)
        titled = _three(b.titled if b else None, o.titled, t.titled)
        preamble = self._text(b.preamble if b else None, o.preamble, t.preamble)
        title = title_line(session).encode("utf-8") if titled else b""
        epilogue = self._text(b.epilogue if b else None, o.epilogue, t.epilogue)
        pieces = self._messages()
        pieces.sort(key=lambda p: (p.message.created_at, p.message.id))
        # A block typed by hand without id or time reads differently where it lands
        # (its id counts the id-less blocks before it, its time is the one before it):
        # such blocks are written by the renderer, with both.
        data = _assemble(head + title + preamble, pieces, epilogue)
        wrong = _misread(data, pieces, path)
        if wrong is None or wrong:
            for piece in pieces:
                if not _reads_alone(piece):
                    piece.block = render_message(piece.message).encode("utf-8")
            data = _assemble(head + title + preamble, pieces, epilogue)
            wrong = _misread(data, pieces, path)
        if wrong is None or wrong:
            whole = replace(session, messages=tuple(p.message for p in pieces))
            data = dumps(whole).encode("utf-8")
            if _misread(data, pieces, path) != []:
                raise MalformedSessionFile(path, 1, "the merged file does not read back")
        return Merged(data, len(pieces), tuple(self.conflicts))

    def _head(self, session: SessionFile) -> bytes:
        candidates = [s.head for s in (self.o, self.t) if s.session == session]
        if candidates:
            return _choose(self.b.head if self.b else None, candidates)
        return render_frontmatter(session).encode("utf-8")

    @staticmethod
    def _text(base: bytes | None, ours: bytes, theirs: bytes) -> bytes:
        if ours == theirs or base == theirs:
            return ours
        if base == ours:
            return theirs
        first, second = sorted((ours, theirs))
        return first + second

    def _messages(self) -> list[_Piece]:
        b, o, t = self.b, self.o, self.t
        base_messages = b.messages if b else {}
        pieces: list[_Piece] = []
        for mid in dict.fromkeys([*o.messages, *t.messages]):
            mb, mo, mt = base_messages.get(mid), o.messages.get(mid), t.messages.get(mid)
            gap = self._text(
                b.gaps.get(mid, b"") if b else None, o.gaps.get(mid, b""), t.gaps.get(mid, b"")
            )
            base_block = b.blocks.get(mid) if b else None
            if mo is not None and mt is not None:
                if _same(mo, mt):
                    block = _choose(base_block, [o.blocks[mid], t.blocks[mid]])
                    pieces.append(_Piece(mo, block, gap))
                elif _same(mb, mo):
                    pieces.append(_Piece(mt, t.blocks[mid], gap))
                elif _same(mb, mt):
                    pieces.append(_Piece(mo, o.blocks[mid], gap))
                else:
                    pieces += self._both(mid, (mo, o.blocks[mid]), (mt, t.blocks[mid]), gap)
                continue
            one, side = (mo, o) if mo is not None else (mt, t)
            assert one is not None
            if _same(mb, one):
                continue  # deleted on the other side, unchanged on this one
            pieces.append(_Piece(one, side.blocks[mid], gap))
        return pieces

    def _both(
        self, mid: str, first: tuple[Message, bytes], second: tuple[Message, bytes], gap: bytes
    ) -> list[_Piece]:
        """Both versions of a message edited differently on both sides."""
        keep, other = sorted((first, second), key=lambda v: (v[0].created_at, _digest(v[0])))
        suffix = f".conflict-{_digest(other[0])[:8]}"
        copy_id = mid[: 128 - len(suffix)] + suffix
        if not MESSAGE_ID.match(copy_id):
            copy_id = "m" + suffix[1:]
        meta = dict(other[0].metadata)
        meta[CONFLICT_KEY] = {"of": mid}
        copy = replace(other[0], id=copy_id, metadata=meta, edited=False)
        self.conflicts.append(mid)
        note = conflict_note(mid, copy_id).encode("utf-8")
        return [
            _Piece(keep[0], keep[1], gap),
            _Piece(copy, render_message(copy).encode("utf-8"), note),
        ]


def _three(base: bool | None, ours: bool, theirs: bool) -> bool:
    if ours == theirs or base == theirs:
        return ours
    if base == ours:
        return theirs
    return ours or theirs


def _choose(base: bytes | None, candidates: list[bytes]) -> bytes:
    """One of equal-meaning versions' bytes, the same whichever side is which: the one
    changed since the base, else the smallest."""
    unique = sorted(set(candidates))
    changed = [c for c in unique if c != base]
    return (changed or unique)[0]


def _assemble(head: bytes, pieces: list[_Piece], epilogue: bytes) -> bytes:
    parts = [head]
    for piece in pieces:
        parts += [piece.gap, piece.block]
    parts.append(epilogue)
    return b"".join(parts)


def _misread(data: bytes, pieces: list[_Piece], path: Path | None) -> list[int] | None:
    """Indexes of pieces that do not read back as intended; None when the file does not
    parse or holds another number of messages."""
    try:
        read = parse(data, path).session.messages
    except VaultError:
        return None
    if len(read) != len(pieces):
        return None
    return [i for i, (got, p) in enumerate(zip(read, pieces, strict=True)) if _differs(got, p)]


def _same(a: Message | None, b: Message | None) -> bool:
    """The same message, whether or not its block still carries its stored hash (a block
    typed by hand is `edited` until the renderer writes it)."""
    if a is None or b is None:
        return a is b
    return not _differs(a, _Piece(b, b"", b""))


def _reads_alone(piece: _Piece) -> bool:
    """Does the block read back as its message with nothing before it?"""
    try:
        read = parse(_ALONE_HEAD + piece.block).session.messages
    except VaultError:
        return False
    return len(read) == 1 and not _differs(read[0], piece)


def _differs(got: Message, piece: _Piece) -> bool:
    """Does a message read back differ from the one meant (whether its block still
    carries its stored hash aside: `edited`)?"""
    return replace(got, edited=False) != replace(piece.message, edited=False)


def _digest(message: Message) -> str:
    data = json.dumps(
        [message.role, message.created_at, message.content, message.metadata],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def _count(data: bytes, path: Path | None) -> int:
    try:
        return len(parse(data, path).session.messages)
    except VaultError:
        return 0
