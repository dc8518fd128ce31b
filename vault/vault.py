"""`Vault(root)`: the only code that writes session files.

Write path (docs/format.md, RELIABILITY.md §2):

- create: render, write a synced temp file, hard-link it to a fresh name (never overwrite);
- append: under the session's kernel lock, check the file is the version we know, cut a
  torn tail, append the block with one `O_APPEND` write, fsync, and check the path still
  names the inode we wrote to (an editor may have replaced it) before acknowledging;
- rewrite (patch, delete of one message): under the lock, parse, then an atomic replace
  that only happens if the file is still the version parsed (compare-and-swap);
- delete: move to `.codearchitect/trash/`; writing to a trashed id is `SESSION_DELETED`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import files
from .catalog import Catalog
from .config import Settings
from .conversation import (
    TRUNCATE_BYTES,
    Draft,
    check_content,
    check_role,
    choose_topic,
    cut_utf8,
    extract_title,
    normalise_conversation,
    utf8_len,
)
from .errors import (
    AmbiguousSession,
    Conflict,
    FilenameGenerationError,
    FileWriteError,
    InvalidInput,
    MalformedSessionFile,
    MessageNotFound,
    SessionDeleted,
    SessionNotFound,
    SessionTooLarge,
    VaultError,
    VaultWarning,
)
from .files import FileChanged, FileState
from .journal import Journal, JournalEntry
from .paths import (
    VAULT_DIR,
    check_session_id,
    generated_session_id,
    session_filename,
    slugify,
)
from .session_file import (
    KEY_FIELDS,
    SOURCE_FIELDS,
    STATUSES,
    Message,
    ParsedSession,
    SessionFile,
    check_timestamp,
    dumps,
    end_marker,
    format_ts,
    parse,
    read_frontmatter,
    render_frontmatter,
    render_head,
    render_message,
    title_line,
    utc_now,
)
from .ulid import new_message_id

__all__ = ("Appended", "Stored", "Vault")

log = logging.getLogger("codearchitect.vault")

GITIGNORE = """\
# Written by codearchitect. Session files under sessions/ are the truth: commit them.
# Everything below is derived or local and can be rebuilt.
index/
trash/
locks/
journal/
*.log
.~cam-*
*.tmp
"""
_RETRIES = 3
# Waits (seconds) for an outside save in progress to finish: ~0.3 s in all.
_SAVE_WAITS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.15)
_HOT_NS = 2_000_000_000
_HEAD_BYTES = 70 * 1024
_DEEP_REFRESH_S = 5.0
# A hit may skip stat-ing the settled day folders for this long after a full sweep.
_SWEEP_S = 1.0
_ID_LINE = re.compile(rb"^id:[ \t]*(.+?)[ \t\r]*$", re.MULTILINE)


@dataclass(frozen=True)
class Stored:
    """The result of storing a whole conversation."""

    session: SessionFile
    path: Path
    warnings: tuple[VaultWarning, ...]
    state: FileState


@dataclass(frozen=True)
class Appended:
    """The result of appending one message.

    `appended` is False when a message with this id was already in the session (an
    idempotent re-import); `created_session` is True when this call created the file.
    """

    message: Message
    session_id: str
    path: Path
    created_session: bool
    appended: bool
    state: FileState
    warnings: tuple[VaultWarning, ...] = ()


@dataclass
class _Known:
    """What this process last saw of a session file, to append without re-reading it."""

    state: FileState
    session_id: str
    ids: set[str]
    last_id: str | None
    torn_offset: int | None


class Vault:
    """A project's vault: `<root>/.codearchitect/`."""

    def __init__(self, root: Path | str, settings: Settings | None = None) -> None:
        self.root = Path(root).resolve()
        self.settings = settings or Settings()
        self.dir = self.root / VAULT_DIR
        self.sessions_dir = self.dir / "sessions"
        self.trash_dir = self.dir / "trash"
        self.locks_dir = self.dir / "locks"
        self.index_dir = self.dir / "index"
        self._known: dict[Path, _Known] = {}
        self._catalog = Catalog(self._head_id, is_session_name)
        self._trash = Catalog(self._head_id, lambda name: name.endswith(".md"))
        self.journal = Journal(self.dir / "journal", self.dir)
        self._deep_refreshed = float("-inf")
        self._swept = float("-inf")
        self._ready = False

    # ------------------------------------------------------------------ set-up

    def init(self) -> None:
        """Create the vault folders and its `.gitignore` (idempotent)."""
        if self._ready:
            return
        for folder in (self.sessions_dir, self.trash_dir, self.locks_dir):
            files.ensure_dir(folder, self.root)
        gitignore = self.dir / ".gitignore"
        if files.stat_file(gitignore) is None:
            # Another process opening the same new vault may write it first: that is fine.
            with contextlib.suppress(FilenameGenerationError):
                files.create_exclusive(self.dir, [".gitignore"], GITIGNORE.encode())
        self._ready = True

    # ------------------------------------------------------------------ reading

    def session_paths(self) -> Iterator[Path]:
        """Every session file under `sessions/`, in date-folder and name order."""
        if not self.sessions_dir.is_dir():
            return
        for day in sorted(_listdir(self.sessions_dir)):
            folder = self.sessions_dir / day
            if folder.is_symlink() or not folder.is_dir():
                continue
            for name in sorted(_listdir(folder)):
                if is_session_name(name):
                    yield folder / name

    def read(self, path: Path) -> tuple[ParsedSession, bytes, FileState]:
        """Parse one session file; raises `MalformedSessionFile` or `SymlinkRefused`."""
        data, state = files.read_bytes(path)
        parsed = parse(data, path)
        self._remember(path, parsed, state)
        self._catalog.parsed(path, state, parsed.session.id)
        return parsed, data, state

    def locate(self, session_id: str) -> Path:
        """The file of a session id; `SessionNotFound`, `SessionDeleted` or `AmbiguousSession`."""
        path = self._find(session_id)
        if path is None:
            if self._in_trash(session_id):
                raise SessionDeleted(session_id)
            raise SessionNotFound(session_id)
        return path

    def get(self, session_id: str) -> SessionFile:
        check_session_id(session_id)
        return self.read(self.locate(session_id))[0].session

    def session_ids(self) -> dict[str, list[Path]]:
        self._refresh_catalog(deep=True)
        return self._catalog.ids()

    # ------------------------------------------------------------------ writing

    def store_session(
        self,
        conversation: object,
        topic: object = None,
        format: str | None = None,
        session_id: str | None = None,
    ) -> Stored:
        """Store a whole conversation (seed 003); with an existing `session_id`, append to it."""
        drafts, truncated, warnings = normalise_conversation(conversation, format)
        chosen = choose_topic(topic, drafts)
        if chosen.warning is not None:
            warnings.append(chosen.warning)
        if session_id is not None:
            check_session_id(session_id, "session_id")
        self.init()
        now = utc_now()
        if session_id is not None:
            with self.lock(session_id):
                path = self._find(session_id)
                if path is None and self._in_trash(session_id):
                    raise SessionDeleted(session_id)
                if path is not None:
                    self._append_many_locked(
                        session_id, [self._message(d, now) for d in drafts], found=path
                    )
                    parsed, _, state = self.read(path)
                    return Stored(parsed.session, path, tuple(warnings), state)
        messages = tuple(self._message(d, now) for d in drafts)
        session = SessionFile(
            id=session_id or "",
            created=format_ts(now),
            title=chosen.title,
            topic=chosen.slug,
            truncated=truncated,
            messages=messages,
        )
        path, session, state = self._create(session, now)
        return Stored(session, path, tuple(warnings), state)

    def create_session(
        self,
        session_id: str | None = None,
        *,
        title: str = "",
        topic: str | None = None,
        messages: tuple[Message, ...] = (),
        created: datetime | None = None,
        **fields: Any,
    ) -> tuple[Path, SessionFile]:
        """Create a session file; `fields` are further `SessionFile` fields (key fields, tags,
        metadata, source…). An existing id is `InvalidInput`."""
        self.init()
        now = created or utc_now()
        if session_id is not None:
            check_session_id(session_id, "session_id")
        slug = slugify(topic or title or session_id or "") or "untitled"
        session = SessionFile(
            id=session_id or "",
            created=format_ts(now),
            title=title,
            topic=slug,
            messages=messages,
            **fields,
        )
        if session_id is None:
            path, session, _ = self._create(session, now)
            return path, session
        with self.lock(session_id):
            if self._find(session_id) is not None or self._in_trash(session_id):
                raise InvalidInput(f"Session {session_id} already exists", field="session_id")
            path, session, _ = self._create(session, now)
        return path, session

    def append_message(
        self,
        session_id: str | None,
        role: str,
        content: object,
        metadata: dict[str, Any] | None = None,
        *,
        message_id: str | None = None,
        created_at: str | None = None,
        new_session: dict[str, Any] | None = None,
    ) -> Appended:
        """Append one message; a missing or unknown session id creates the session (seed 000).

        Args:
            session_id: the session; None creates a fresh session with a generated id.
            message_id: a caller-derived id (importers); if the session already holds it,
                nothing is written and `appended` is False.
            created_at: the message time (ISO UTC); default now.
            new_session: frontmatter fields used only if this call creates the session.
        """
        role = check_role(role)
        text = check_content(content)
        if created_at is not None:
            check_timestamp(created_at, "created_at")
        warnings: list[VaultWarning] = []
        size = utf8_len(text)
        meta = dict(metadata or {})
        if size > self.settings.max_conversation_bytes:
            raise InvalidInput(f"'content' is {size} bytes; the limit is 10MB", field="content")
        if size > TRUNCATE_BYTES:
            text = cut_utf8(text, TRUNCATE_BYTES)
            meta["truncated"] = True
            warnings.append(VaultWarning("TRUNCATED", "Message truncated to 1MB"))
        now = utc_now()
        message = Message(
            id=message_id or new_message_id(),
            role=role,
            content=text,
            created_at=created_at or format_ts(now),
            metadata=meta,
        )
        render_message(message)  # validates id and content before any I/O
        self.init()
        if session_id is None:
            drafts = [Draft(role, text, meta)]
            chosen = choose_topic((new_session or {}).get("title"), drafts)
            session = SessionFile(
                id="",
                created=format_ts(now),
                title=chosen.title,
                topic=chosen.slug,
                messages=(message,),
                **_session_fields(new_session, skip=("title",)),
            )
            path, session, state = self._create(session, now)
            return Appended(message, session.id, path, True, True, state, tuple(warnings))
        check_session_id(session_id)
        with self.lock(session_id):
            found = self._find(session_id)
            if found is None:
                if self._in_trash(session_id):
                    raise SessionDeleted(session_id)
                extra = dict(new_session or {})
                title = str(extra.pop("title", "") or "") or extract_title(
                    [Draft(role, text, meta)]
                )
                session = SessionFile(
                    id=session_id,
                    created=created_at or format_ts(now),
                    title=title,
                    topic=slugify(session_id) or slugify(title) or "untitled",
                    messages=(message,),
                    **_session_fields(extra),
                )
                path, session, state = self._create(session, now)
                return Appended(message, session_id, path, True, True, state, tuple(warnings))
            result = self._append_locked(session_id, message, found)
        return replace(result, warnings=tuple(warnings))

    def append_messages(
        self,
        session_id: str,
        messages: list[Message],
        *,
        new_session: dict[str, Any] | None = None,
    ) -> tuple[Path, bool, list[Message]]:
        """Append several messages with caller-chosen ids in one write (importers).

        Messages whose id the session already holds are skipped, so a re-import writes
        nothing. If the session does not exist it is created with all of them, its
        frontmatter from `new_session` (title, topic, created, key fields, source…), in the
        date folder of its `created`. These messages are not written to the ack journal:
        their source holds them, and a re-import restores what an outside edit removed.
        Returns (path, created_session, messages written).
        """
        check_session_id(session_id)
        for message in messages:
            render_message(message)  # validate before any I/O
        self.init()
        with self.lock(session_id):
            path = self._find(session_id)
            if path is None:
                if self._in_trash(session_id):
                    raise SessionDeleted(session_id)
                extra = dict(new_session or {})
                title = str(extra.pop("title", "") or "")
                topic = str(extra.pop("topic", "") or "")
                created = extra.pop("created", None)
                # An imported session is filed under its own date, not today's.
                now = _parse_ts(check_timestamp(created, "created")) if created else utc_now()
                unique = list({m.id: m for m in messages}.values())
                session = SessionFile(
                    id=session_id,
                    created=created or format_ts(now),
                    title=title,
                    topic=slugify(topic or title or session_id) or "untitled",
                    messages=tuple(unique),
                    **_session_fields(extra),
                )
                path, session, _ = self._create(session, now, journal=False)
                return path, True, unique
            path, _, written = self._append_many_locked(
                session_id, messages, journal=False, found=path
            )
            return path, False, written

    def patch(
        self,
        session_id: str,
        *,
        title: str | None = None,
        status: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **key_fields: str | None,
    ) -> SessionFile:
        """Change only the given frontmatter fields; metadata is merged key by key (a null
        value removes that key); `updated` is set to now."""
        check_session_id(session_id)
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = check_content(title, "title")
        if status is not None:
            if status not in STATUSES:
                raise InvalidInput(f"'status' must be one of {', '.join(STATUSES)}", field="status")
            changes["status"] = status
        if tags is not None:
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise InvalidInput("'tags' must be a list of strings", field="tags")
            changes["tags"] = tuple(tags)
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInput("'metadata' must be an object", field="metadata")
        for key, value in key_fields.items():
            if key not in KEY_FIELDS:
                raise InvalidInput(f"Unknown session field '{key}'", field=key)
            if value is not None:
                changes[key] = check_content(value, key)

        def edit(parsed: ParsedSession, data: bytes) -> bytes:
            old = parsed.session
            new = replace(old, updated=format_ts(utc_now()), **changes)
            if metadata is not None:
                merged = dict(old.metadata)
                for key, value in metadata.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                new = replace(new, metadata=merged)
            body = data[parsed.body_offset : parsed.torn_offset]
            old_title = title_line(old).encode("utf-8")
            if old_title and body.startswith(old_title):
                return render_head(new).encode("utf-8") + body[len(old_title) :]
            if not old_title:
                return render_head(new).encode("utf-8") + body
            return render_frontmatter(new).encode("utf-8") + body

        return self._rewrite(session_id, edit)

    def delete_message(self, session_id: str, message_id: str) -> SessionFile:
        """Remove one message block from its session file (an atomic rewrite)."""
        check_session_id(session_id)

        def edit(parsed: ParsedSession, data: bytes) -> bytes:
            for i, message in enumerate(parsed.session.messages):
                if message.id == message_id:
                    return data[: parsed.message_starts[i]] + data[parsed.message_ends[i] :]
            raise MessageNotFound(message_id)

        session = self._rewrite(session_id, edit)
        self.journal.forget([message_id])
        return session

    def acked_missing(self) -> list[JournalEntry]:
        """Acknowledged messages (last 7 days) that are no longer in their session file,
        e.g. because an editor saved a stale buffer over them (`ACKED_MISSING`)."""
        by_session: dict[str, list[JournalEntry]] = {}
        for entry in self.journal.entries():
            by_session.setdefault(entry.session_id, []).append(entry)
        missing: list[JournalEntry] = []
        for session_id, entries in by_session.items():
            try:
                present = {m.id for m in self.get(session_id).messages}
            except SessionDeleted:
                continue
            except VaultError:
                present = set()
            missing.extend(e for e in entries if e.message.id not in present)
        return missing

    def restore_acked(self, message_id: str) -> Appended:
        """Append an `ACKED_MISSING` message back to its session, from the journal."""
        for entry in self.journal.entries():
            if entry.message.id == message_id:
                m = entry.message
                return self.append_message(
                    entry.session_id,
                    m.role,
                    m.content,
                    m.metadata,
                    message_id=m.id,
                    created_at=m.created_at,
                )
        raise MessageNotFound(message_id)

    def delete(self, session_id: str) -> bool:
        """Move a session's file to the trash; False if there was no such session."""
        check_session_id(session_id)
        self.init()
        with self.lock(session_id):
            path = self._find(session_id)
            if path is None:
                return False
            stamp = utc_now().strftime("%Y%m%dT%H%M%S%f")
            target = self.trash_dir / f"{stamp}-{path.name}"
            try:
                os.rename(path, target)
            except OSError as exc:
                raise FileWriteError(
                    path, "Cannot move session to trash", details=str(exc)
                ) from exc
            try:
                files.fsync_dir(self.trash_dir)
                files.fsync_dir(path.parent)
            except OSError as exc:
                # Not acknowledged, so not deleted: put the file back where it was.
                with contextlib.suppress(OSError):
                    os.rename(target, path)
                    files.fsync_dir(path.parent)
                raise FileWriteError(
                    path, "Cannot move session to trash", details=str(exc)
                ) from exc
            self._known.pop(path, None)
            self._catalog.drop(path)
            return True

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """The cross-process lock for one session id (a kernel lock; dies with its process)."""
        self.init()
        digest = files.checksum(name.encode("utf-8"))[:24]
        lock = FileLock(self.locks_dir / f"{digest}.lock", timeout=self.settings.lock_timeout)
        try:
            lock.acquire()
        except Timeout as exc:
            raise Conflict(f"Timed out waiting for the lock of session {name}") from exc
        try:
            yield
        finally:
            lock.release()

    # ------------------------------------------------------------------ internals

    def _message(self, draft: Draft, now: datetime) -> Message:
        return Message(new_message_id(), draft.role, draft.content, format_ts(now), draft.metadata)

    def _create(
        self, session: SessionFile, now: datetime, *, journal: bool = True
    ) -> tuple[Path, SessionFile, FileState]:
        """Write a new session file under a fresh name; a generated id follows the name."""
        folder = self.sessions_dir / now.strftime("%Y-%m-%d")
        files.ensure_dir(folder, self.dir)
        limit = self.settings.max_collisions
        for message in session.messages:
            render_message(message)
        try:
            data = dumps(session).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(
                "A session field holds an unpaired surrogate", details=str(exc)
            ) from exc
        if session.id:
            names = (session_filename(now, session.topic, n) for n in range(limit + 1))
            path = files.create_exclusive(folder, names, data)
        else:
            path, session = self._create_generated(folder, session, now, limit)
        data, state = files.read_bytes(path)
        self._remember(path, parse(data, path), state)
        self._catalog.put(path, state, session.id)
        if journal:
            self.journal.record(session.id, session.messages)
        return path, session, state

    def _create_generated(
        self, folder: Path, session: SessionFile, now: datetime, limit: int
    ) -> tuple[Path, SessionFile]:
        # The id is the file name, so each candidate name needs its own rendering.
        for n in range(limit + 1):
            name = session_filename(now, session.topic, n)
            if files.stat_file(folder / name) is not None:
                continue
            candidate = replace(session, id=generated_session_id(name))
            try:
                path = files.create_exclusive(folder, [name], dumps(candidate).encode("utf-8"))
            except FilenameGenerationError:
                continue
            return path, candidate
        raise FilenameGenerationError(
            "Cannot generate a unique filename: all collision suffixes are taken",
            details=str(folder),
        )

    def _append_locked(self, session_id: str, message: Message, found: Path) -> Appended:
        path, state, written = self._append_many_locked(session_id, [message], found=found)
        return Appended(message, session_id, path, False, bool(written), state)

    def _append_many_locked(
        self, session_id: str, messages: list[Message], *, journal: bool = True, found: Path
    ) -> tuple[Path, FileState, list[Message]]:
        """Append the messages the file does not hold yet, in one write; returns those.

        `found` is the session's file as the caller just located it under the lock; a
        retry locates it again.
        """
        path: Path | None = None
        for attempt in range(_RETRIES + len(_SAVE_WAITS)):
            try:
                path = found if attempt == 0 else self.locate(session_id)
                known = self._current(path)
            except (SessionNotFound, MalformedSessionFile, FileNotFoundError):
                # Found under the lock a moment ago: unless the file is old, it is an
                # outside save in progress (truncated, or renamed away); wait for it.
                if path is None or attempt >= len(_SAVE_WAITS) or not _hot(path):
                    raise
                time.sleep(_SAVE_WAITS[attempt])
                continue
            if known.session_id != session_id:
                self._catalog.drop(path)
                continue
            todo = list({m.id: m for m in messages if m.id not in known.ids}.values())
            if not todo:
                return path, known.state, []
            block = "".join(render_message(m) for m in todo).encode("utf-8")
            state = known.state
            if known.torn_offset is not None:
                log.warning("cutting a torn tail at byte %d of %s", known.torn_offset, path)
                try:
                    state = files.truncate_to(path, known.torn_offset, state)
                except FileChanged:
                    self._known.pop(path, None)
                    continue
            if state.size + len(block) > self.settings.max_file_bytes:
                raise SessionTooLarge(
                    f"Session {session_id} would pass the {self.settings.max_file_bytes} byte cap"
                )
            try:
                new_state = files.append_bytes(path, block, state)
            except (FileChanged, FileNotFoundError):
                self._known.pop(path, None)
                continue
            after = files.stat_file(path)
            if after is None or after.ino != new_state.ino or after.size != new_state.size:
                # An editor replaced the file while we wrote: our bytes went to the old inode,
                # unless the editor read them first. Go round again for what is not there.
                self._known.pop(path, None)
                continue
            known.ids.update(m.id for m in todo)
            known.last_id = todo[-1].id
            known.state = new_state
            known.torn_offset = None
            self._known[path] = known
            # Our own write: the catalogue need not re-read the head to learn the id again.
            self._catalog.put(path, new_state, session_id)
            if journal:
                self.journal.record(session_id, todo)
            return path, new_state, todo
        raise Conflict(f"Session {session_id} kept changing while appending; try again")

    def _current(self, path: Path) -> _Known:
        """This process's knowledge of `path`, re-read if the file is not as last seen."""
        state = files.stat_file(path)
        if state is None:
            raise FileNotFoundError(str(path))
        known = self._known.get(path)
        if known is not None and known.state == state and self._tail_ok(path, known):
            return known
        self.read(path)
        return self._known[path]

    def _tail_ok(self, path: Path, known: _Known) -> bool:
        if known.last_id is None or known.torn_offset is not None:
            return known.torn_offset is None and known.last_id is None
        marker = (end_marker(known.last_id) + "\n").encode("ascii")
        try:
            return files.read_tail(path, known.state.size, len(marker)) == marker
        except OSError:
            return False

    def _remember(self, path: Path, parsed: ParsedSession, state: FileState) -> None:
        messages = parsed.session.messages
        self._known[path] = _Known(
            state=state,
            session_id=parsed.session.id,
            ids={m.id for m in messages},
            last_id=messages[-1].id if messages else None,
            torn_offset=parsed.torn_offset,
        )

    def _rewrite(self, session_id: str, edit: Any) -> SessionFile:
        """Read, edit and atomically replace a session file, only if it did not change."""
        with self.lock(session_id):
            for _ in range(_RETRIES):
                path = self.locate(session_id)
                parsed, data, state = self.read(path)
                new_data = edit(parsed, data)
                if files.stat_file(path) != state:
                    continue
                files.write_atomic(path, new_data)
                parsed, _, _ = self.read(path)
                return parsed.session
        raise Conflict(f"Session {session_id} kept changing while rewriting; try again")

    def _find(self, session_id: str) -> Path | None:
        """The one file holding `session_id`, or None (see `Catalog.refresh`).

        A miss is exact for files created since we last looked; at most every few seconds
        it also re-stats every file, to notice an `id` edited by hand. Within a second of
        the last full look, a hit checks only the top folder, the hot day folders and the
        file itself: a copy of the file put in another, settled day folder is then noticed
        (as `AmbiguousSession`) up to a second later.
        """
        quick = time.monotonic() - self._swept < _SWEEP_S
        self._refresh_catalog(deep=False, hot_only=quick)
        paths = self._catalog.paths_for(session_id)
        if not paths and quick:
            self._refresh_catalog(deep=False)
            paths = self._catalog.paths_for(session_id)
        if not paths and time.monotonic() - self._deep_refreshed > _DEEP_REFRESH_S:
            self._refresh_catalog(deep=True)
            paths = self._catalog.paths_for(session_id)
        # A miss while an editor is saving the session's file (truncated, or renamed away
        # for a moment) would create a second file with the same id: wait for the save.
        for delay in _SAVE_WAITS:
            if paths or not self._catalog.unsettled(session_id):
                break
            time.sleep(delay)
            self._refresh_catalog(deep=False)
            paths = self._catalog.paths_for(session_id)
        if not paths:
            paths = self._catalog.paths_for(session_id)
        if len(paths) > 1:
            raise AmbiguousSession(session_id, sorted(paths))
        return paths[0] if paths else None

    def _refresh_catalog(self, *, deep: bool, hot_only: bool = False) -> None:
        started = time.monotonic()
        self._catalog.refresh_tree(self.sessions_dir, deep=deep, hot_only=hot_only)
        if not hot_only:
            self._swept = started
        if deep:
            self._deep_refreshed = started

    def _head_id(self, path: Path) -> str | None:
        """The session id in a file's frontmatter, read from its first 70 KB.

        If the frontmatter does not parse, an `id:` line is still looked for, so a session
        whose file a person broke is reported as malformed rather than silently recreated.
        """
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                head = os.read(fd, 4096)
                fast = _plain_id(head)
                if fast is not None:
                    return fast
                if len(head) == 4096:
                    head += os.read(fd, _HEAD_BYTES - 4096)
            finally:
                os.close(fd)
        except OSError:
            return None
        try:
            sid = read_frontmatter(head, path)["id"]
            return sid if isinstance(sid, str) else None
        except VaultError:
            m = _ID_LINE.search(head)
            if m is None:
                return None
            return m.group(1).decode("utf-8", "replace").strip().strip("'\"")

    def _in_trash(self, session_id: str) -> bool:
        self._trash.refresh([self.trash_dir], deep=False)
        return bool(self._trash.paths_for(session_id))


def _hot(path: Path) -> bool:
    """Written in the last 2 s (or gone): maybe an outside save in progress."""
    try:
        st = os.lstat(path)
    except OSError:
        return True
    return time.time_ns() - st.st_mtime_ns < _HOT_NS


def is_session_name(name: str) -> bool:
    """A file the vault treats as a session: `*.md`, not hidden, not a temp or backup."""
    return name.endswith(".md") and not name.startswith((".", "~", "#"))


def _listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _session_fields(values: dict[str, Any] | None, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    allowed = {*KEY_FIELDS, *SOURCE_FIELDS, "tags", "metadata", "status", "extra"}
    out: dict[str, Any] = {}
    for key, value in (values or {}).items():
        if key in skip:
            continue
        if key not in allowed:
            raise InvalidInput(f"Unknown session field '{key}'", field=key)
        out[key] = tuple(value) if key == "tags" else value
    return out


def _parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _plain_id(head: bytes) -> str | None:
    """The frontmatter's top-level `id` when it is a plain or simply quoted scalar on one
    line, without a YAML parse (the catalogue reads every file's head once); None when
    only the YAML parser can tell."""
    start = 3 if head.startswith(b"---") else 6 if head.startswith(b"\xef\xbb\xbf---") else -1
    if start < 0:
        return None
    end = head.find(b"\n---", start)
    if end < 0:
        return None
    m = _ID_LINE.search(head, start, end)
    if m is None:
        return None
    raw = m.group(1)
    if raw[:1] in b"'\"" and raw[-1:] == raw[:1] and len(raw) >= 2:
        inner = raw[1:-1]
        if b"\\" in inner or raw[:1] in inner:
            return None
        raw = inner
    elif raw[:1] in b"!&*>|{[@`#%" or b" #" in raw or raw.endswith(b":"):
        return None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return value if value.strip() else None
