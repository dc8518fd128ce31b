"""`Vault(root)`: the only code that writes session files.

Write path (docs/format.md, RELIABILITY.md §2):

- create: render, write a synced temp file, hard-link it to a fresh name (never overwrite);
- append: under the session's kernel lock, check the file is the version we know, cut a
  torn tail, append the block with one `O_APPEND` write, fsync, and check the path still
  names the inode we wrote to (an editor may have replaced it) before acknowledging;
- rewrite (patch, delete of one message): under the lock, parse, then an atomic replace
  that only happens if the file is still the version parsed (compare-and-swap);
- delete: move to `.codearchitect/trash/`; writing to a trashed id is `SESSION_DELETED`.

The machinery lives beside this module: `lookup` (which file holds an id), `appending`
(the append and what this process knows of each file), `creating` (new files and their
frontmatter), `rewriting` (the bytes of a patch or a message deletion).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import files
from .appending import Appender
from .config import Settings
from .conversation import Draft, choose_topic, new_message, normalise_conversation
from .creating import fresh_session, imported_session, named_session, write_new
from .derived import claim_dir, claim_file
from .errors import (
    AmbiguousSession,
    Conflict,
    FilenameGenerationError,
    FileWriteError,
    InvalidInput,
    MalformedSessionFile,
    MessageNotFound,
    SessionDeleted,
    VaultError,
    VaultWarning,
)
from .files import FileState
from .journal import Journal, JournalEntry
from .lookup import Finder, is_session_name
from .paths import VAULT_DIR, check_session_id, slugify
from .redaction import Redactions, Redactor, RedactorCache
from .redaction.scanning import redacted_file
from .rewriting import patch_changes, patched, with_lost_messages, without_message
from .session_file import (
    Message,
    ParsedSession,
    SessionFile,
    format_ts,
    parse,
    render_message,
    utc_now,
)
from .ulid import new_message_id

__all__ = ("Appended", "Stored", "Vault")

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


@dataclass(frozen=True)
class Stored:
    """The result of storing a whole conversation."""

    session: SessionFile
    path: Path
    warnings: tuple[VaultWarning, ...]
    state: FileState
    redacted: Redactions = field(default_factory=Redactions)


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
    redacted: Redactions = field(default_factory=Redactions)
    """Secrets replaced by markers in this message (and the new session's fields)."""


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
        self.journal = Journal(self.dir / "journal", self.dir)
        self._finder = Finder(self.sessions_dir, self.trash_dir)
        self._appender = Appender(self._finder, self.journal, self.settings.max_file_bytes)
        self._redactors = RedactorCache(self.dir)
        self._ready = False

    def redactor(self) -> Redactor:
        """The project's secret redactor (its settings re-read when config.json changes)."""
        return self._redactors.get()

    # ------------------------------------------------------------------ set-up

    def init(self) -> None:
        """Create the vault folders and its `.gitignore` (idempotent)."""
        if self._ready:
            return
        # sessions/ holds the truth: a link there is refused. trash/ and locks/ are local
        # state: anything planted in their place is replaced (vault/derived.py).
        files.ensure_dir(self.sessions_dir, self.root)
        for folder in (self.trash_dir, self.locks_dir):
            claim_dir(folder, self.dir)
        gitignore = self.dir / ".gitignore"
        if not os.path.lexists(gitignore):  # whatever stands there is left alone
            # Another process opening the same new vault may write it first: that is fine.
            with contextlib.suppress(FilenameGenerationError):
                files.create_exclusive(self.dir, [".gitignore"], GITIGNORE.encode())
        self._ready = True

    # ------------------------------------------------------------------ reading

    def session_paths(self) -> Iterator[Path]:
        """Every session file under `sessions/`, in date-folder and name order."""
        # Listed through descriptors (vault/files.py): a linked sessions/ is
        # `SymlinkRefused`, a linked date folder is skipped. Every `*.md` name is yielded;
        # only regular files are sessions: reading anything else is `UnreadableSessionFile`,
        # which the index reports.
        for day in sorted(files.list_folder(self.sessions_dir)):
            folder = self.sessions_dir / day
            if os.path.islink(folder):
                continue
            for name in sorted(files.list_folder(folder)):
                if is_session_name(name):
                    yield folder / name

    def read(self, path: Path) -> tuple[ParsedSession, bytes, FileState]:
        """Parse one session file; raises `MalformedSessionFile` or `SymlinkRefused`."""
        return self._appender.read(path)

    def locate(self, session_id: str) -> Path:
        """The file of a session id; `SessionNotFound`, `SessionDeleted` or `AmbiguousSession`."""
        return self._finder.locate(session_id)

    def get(self, session_id: str) -> SessionFile:
        check_session_id(session_id)
        return self.read(self.locate(session_id))[0].session

    def session_ids(self) -> dict[str, list[Path]]:
        return self._finder.ids()

    def seed_catalog(self, provider: Callable[[], Iterable[tuple[str, FileState, str]]]) -> None:
        """Offer what an index knows — (`day/name.md` under `sessions/`, (inode, size,
        mtime), session id) of files it parsed — to the id catalogue, called lazily before
        the first look-up. An entry stands only while the file keeps that exact state; a
        file whose state differs is read as usual, so a stale entry costs one read."""
        self._finder.seed_with(provider)

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
        redacted = Redactions()
        redactor = self.redactor()
        drafts = [
            Draft(d.role, redactor.text(d.content, redacted), redactor.value(d.metadata, redacted))
            for d in drafts
        ]
        if isinstance(topic, str):
            topic = redactor.text(topic, redacted)
        chosen = choose_topic(topic, drafts)
        if chosen.warning is not None:
            warnings.append(chosen.warning)
        if session_id is not None:
            check_session_id(session_id, "session_id")
        self.init()
        now = utc_now()
        if session_id is not None:
            with self.lock(session_id):
                path = self._finder.find(session_id)
                if path is None and self._finder.in_trash(session_id):
                    raise SessionDeleted(session_id)
                if path is not None:
                    self._appender.append(
                        session_id, [self._message(d, now) for d in drafts], found=path
                    )
                    parsed, _, state = self.read(path)
                    return Stored(parsed.session, path, tuple(warnings), state, redacted)
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
        return Stored(session, path, tuple(warnings), state, redacted)

    def create_session(
        self,
        session_id: str | None = None,
        *,
        title: str = "",
        topic: str | None = None,
        messages: tuple[Message, ...] = (),
        created: datetime | None = None,
        redacted: Redactions | None = None,
        **fields: Any,
    ) -> tuple[Path, SessionFile]:
        """Create a session file; `fields` are further `SessionFile` fields (key fields, tags,
        metadata, source…). An existing id is `InvalidInput`. Secrets are redacted first,
        counted into `redacted` when given."""
        self.init()
        now = created or utc_now()
        if session_id is not None:
            check_session_id(session_id, "session_id")
        redactor = self.redactor()
        redacted = Redactions() if redacted is None else redacted
        title = redactor.text(title, redacted)
        if topic is not None:
            topic = redactor.text(topic, redacted)
        messages = tuple(redactor.message(m, redacted) for m in messages)
        fields = redactor.fields(fields, redacted) or {}
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
            if self._finder.find(session_id) is not None or self._finder.in_trash(session_id):
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
        now = utc_now()
        message, warnings = new_message(
            role,
            content,
            metadata,
            message_id=message_id,
            created_at=created_at,
            now=now,
            max_bytes=self.settings.max_conversation_bytes,
        )
        redactor, redacted = self.redactor(), Redactions()
        message = redactor.message(message, redacted)
        new_session = redactor.fields(new_session, redacted)
        self.init()
        if session_id is None:
            session = fresh_session(message, now, new_session)
            path, session, state = self._create(session, now)
            return Appended(message, session.id, path, True, True, state, tuple(warnings), redacted)
        check_session_id(session_id)
        with self.lock(session_id):
            found = self._finder.find(session_id)
            if found is None:
                if self._finder.in_trash(session_id):
                    raise SessionDeleted(session_id)
                session = named_session(session_id, message, now, created_at, new_session)
                path, session, state = self._create(session, now)
                return Appended(
                    message, session_id, path, True, True, state, tuple(warnings), redacted
                )
            result = self._append_locked(session_id, message, found)
        return replace(result, warnings=tuple(warnings), redacted=redacted)

    def append_messages(
        self,
        session_id: str,
        messages: list[Message],
        *,
        new_session: dict[str, Any] | None = None,
        redacted: Redactions | None = None,
    ) -> tuple[Path, bool, list[Message]]:
        """Append several messages with caller-chosen ids in one write (importers).

        Messages whose id the session already holds are skipped, so a re-import writes
        nothing. If the session does not exist it is created with all of them, its
        frontmatter from `new_session` (title, topic, created, key fields, source…), in the
        date folder of its `created`. These messages are not written to the ack journal:
        their source holds them, and a re-import restores what an outside edit removed.
        Secrets are redacted first; `redacted`, when given, counts them.
        Returns (path, created_session, messages written).
        """
        check_session_id(session_id)
        redactor, fields_count = self.redactor(), Redactions()
        counted: dict[str, Redactions] = {}
        messages = [redactor.message(m, counted.setdefault(m.id, Redactions())) for m in messages]
        new_session = redactor.fields(new_session, fields_count)
        for message in messages:
            render_message(message)  # validate before any I/O
        self.init()
        with self.lock(session_id):
            path = self._finder.find(session_id)
            if path is None:
                if self._finder.in_trash(session_id):
                    raise SessionDeleted(session_id)
                session, now = imported_session(session_id, messages, new_session)
                path, session, _ = self._create(session, now, journal=False)
                if redacted is not None:
                    redacted.update(fields_count)
                    for m in session.messages:
                        redacted.update(counted[m.id])
                return path, True, list(session.messages)
            path, _, written = self._appender.append(
                session_id, messages, found=path, journal=False
            )
            if redacted is not None:
                for m in written:
                    redacted.update(counted[m.id])
            return path, False, written

    def patch(
        self,
        session_id: str,
        *,
        title: str | None = None,
        status: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        redacted: Redactions | None = None,
        **key_fields: str | None,
    ) -> SessionFile:
        """Change only the given frontmatter fields; metadata is merged key by key (a null
        value removes that key); `updated` is set to now. Secrets in the new values are
        redacted first, counted into `redacted` when given."""
        check_session_id(session_id)
        redactor = self.redactor()
        redacted = Redactions() if redacted is None else redacted
        if title is not None:
            title = redactor.text(title, redacted)
        tags = redactor.value(tags, redacted)
        metadata = redactor.value(metadata, redacted)
        changes = patch_changes(
            title=title, status=status, tags=tags, metadata=metadata, key_fields=key_fields
        )
        return self._rewrite(
            session_id,
            lambda parsed, data: patched(parsed, data, changes, metadata, format_ts(utc_now())),
        )

    def delete_message(self, session_id: str, message_id: str) -> SessionFile:
        """Remove one message block from its session file (an atomic rewrite).

        The deletion is journaled before the rewrite: a kill between the two must never leave
        the journal expecting a message the file no longer holds (`ACKED_MISSING`, and
        `restore` would bring a deleted message back). If the rewrite then fails, the
        message stays in its file and is simply no longer watched by the journal."""
        check_session_id(session_id)
        self.journal.forget([message_id])
        return self._rewrite(
            session_id, lambda parsed, data: without_message(parsed, data, message_id)
        )

    def redact_session(self, session_id: str) -> Redactions:
        """Redact the secrets already in a session's file (written before redaction, or by
        hand): an atomic rewrite, only if the file is still the version read. Returns what
        was redacted (nothing is written when there was nothing)."""
        check_session_id(session_id)
        counts = Redactions()
        parsed, data, _ = self.read(self.locate(session_id))
        if redacted_file(parsed, data, self.redactor(), Redactions()) is None:
            return counts

        def edit(parsed: ParsedSession, data: bytes) -> bytes:
            counts.counts.clear()
            return redacted_file(parsed, data, self.redactor(), counts) or data

        self._rewrite(session_id, edit)
        return counts

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
            except (SessionDeleted, MalformedSessionFile):
                continue  # deleted on purpose, or reported as malformed (one line, not N)
            except Conflict:
                continue  # an editor is saving the file right now: ask again after the save
            except AmbiguousSession as exc:
                present = self._ids_in(exc.paths)  # what is in any of them is not lost
            except VaultError:
                present = set()
            missing.extend(e for e in entries if e.message.id not in present)
        return missing

    def _ids_in(self, paths: list[Path]) -> set[str]:
        """The message ids of the files that parse among `paths`."""
        ids: set[str] = set()
        for path in paths:
            with contextlib.suppress(VaultError, OSError):
                ids.update(m.id for m in self.read(path)[0].session.messages)
        return ids

    def forget_acked(self, ids: list[str]) -> list[str]:
        """Stop reporting missing messages whose removal was meant: each id is a message
        id, or a session id (all its missing messages). Returns the message ids forgotten;
        `MessageNotFound` (and nothing forgotten) if an id names no missing message."""
        missing = self.acked_missing()
        chosen: list[str] = []
        for wanted in ids:
            hits = [e.message.id for e in missing if wanted in (e.message.id, e.session_id)]
            if not hits:
                raise MessageNotFound(wanted)
            chosen += [h for h in hits if h not in chosen]
        self.journal.forget(chosen)
        return chosen

    def restore_acked(self, message_id: str) -> tuple[str, int]:
        """Put an `ACKED_MISSING` message back into its session, from the journal, before
        the first message created after it. Returns (session id, its 0-based position)."""
        for _, session_id, position in self.restore_acked_many([message_id]):
            return session_id, position
        raise MessageNotFound(message_id)  # not reached: one id is restored or refused

    def restore_acked_many(self, message_ids: Sequence[str]) -> Iterator[tuple[str, str, int]]:
        """`restore_acked` for each id in turn, yielding (message id, session id, 0-based
        position when put back); stops with the error of the first that cannot be restored,
        those before it restored. Consecutive ids of one session are put back in one
        rewrite of its file (hundreds lost to an editor's stale saves: one write, not
        hundreds)."""
        entries = {e.message.id: e for e in self.journal.entries()}
        i = 0
        while i < len(message_ids):
            first = entries.get(message_ids[i])
            if first is None:
                raise MessageNotFound(message_ids[i])
            check_session_id(first.session_id)
            batch = [first]
            while i + len(batch) < len(message_ids):
                entry = entries.get(message_ids[i + len(batch)])
                if entry is None or entry.session_id != first.session_id:
                    break
                batch.append(entry)
            # An entry written before redaction may hold a secret: it goes back redacted.
            lost = [self.redactor().message(e.message, Redactions()) for e in batch]
            positions, refused = self._restore_in(first.session_id, lost)
            for entry, position in zip(batch, positions, strict=False):
                yield entry.message.id, first.session_id, position
            if refused is not None:
                raise refused
            i += len(batch)

    def _restore_in(
        self, session_id: str, lost: list[Message]
    ) -> tuple[list[int], VaultError | None]:
        """Put `lost` back into the session's file in one rewrite, up to the first that is
        already there; their positions, and that refusal."""
        outcome: tuple[list[int], VaultError | None] = ([], None)

        def edit(parsed: ParsedSession, data: bytes) -> bytes:
            nonlocal outcome
            new_data, positions, refused = with_lost_messages(parsed, data, lost)
            if refused is not None and not positions:
                raise refused  # nothing to write
            outcome = (positions, refused)
            return new_data

        self._rewrite(session_id, edit)
        return outcome

    def delete(self, session_id: str) -> bool:
        """Move a session's file to the trash; False if there was no such session."""
        check_session_id(session_id)
        self.init()
        with self.lock(session_id):
            path = self._finder.find(session_id)
            if path is None:
                return False
            self._trash_locked(path)
            return True

    def rewrite_file(self, path: Path, edit: Callable[[bytes], bytes], lock: str) -> FileState:
        """Atomically replace one session file with `edit(its bytes)`, under the lock of
        the session id `lock`, only if the file did not change meanwhile (a merge of its
        conflict markers, a fold of several files claiming one id: vault/gitshare)."""
        self.init()
        with self.lock(lock):
            for _ in range(_RETRIES):
                data, state = files.read_bytes(path)
                new_data = edit(data)
                if files.stat_file(path) != state:
                    continue
                written = files.write_atomic(path, new_data)
                self._appender.forget(path)
                return written
        raise Conflict(f"{path} kept changing while rewriting; try again")

    def trash_file(self, path: Path, lock: str) -> None:
        """Move one session file to the trash, under the lock of the session id `lock`."""
        self.init()
        with self.lock(lock):
            self._trash_locked(path)

    def _trash_locked(self, path: Path) -> None:
        stamp = utc_now().strftime("%Y%m%dT%H%M%S%f")
        target = self.trash_dir / f"{stamp}-{path.name}"
        try:
            files.rename(path, target)
        except OSError as exc:
            raise FileWriteError(path, "Cannot move session to trash", details=str(exc)) from exc
        try:
            files.fsync_dir(self.trash_dir)
            files.fsync_dir(path.parent)
        except OSError as exc:
            # Not acknowledged, so not deleted: put the file back where it was.
            with contextlib.suppress(OSError, VaultError):
                files.rename(target, path)
                files.fsync_dir(path.parent)
            raise FileWriteError(path, "Cannot move session to trash", details=str(exc)) from exc
        self._appender.forget(path)
        self._finder.catalog.drop(path)

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """The cross-process lock for one session id (a kernel lock; dies with its process)."""
        self.init()
        digest = files.checksum(name.encode("utf-8"))[:24]
        path = self.locks_dir / f"{digest}.lock"
        claim_file(path)  # a planted link or FIFO would make every write fail
        lock = FileLock(path, timeout=self.settings.lock_timeout)
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
        path, session = write_new(folder, session, now, self.settings.max_collisions)
        data, state = files.read_bytes(path)
        self._appender.remember(path, parse(data, path), state)
        self._finder.catalog.put(path, state, session.id)
        if journal:
            self.journal.record(session.id, session.messages)
        return path, session, state

    def _append_locked(self, session_id: str, message: Message, found: Path) -> Appended:
        path, state, written = self._appender.append(session_id, [message], found=found)
        return Appended(message, session_id, path, False, bool(written), state)

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
