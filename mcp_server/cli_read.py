"""The read-only commands: `search`, `sessions`, `show`, `stats`. None of them creates a
vault; all of them take a session as a whole id, a unique prefix of one, or its file."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vault import InvalidInput, SessionNotFound
from vault.message_views import plain_text

from .cli_common import (
    errors,
    filter_options,
    human,
    json_option,
    open_index,
    print_table,
    rich_console,
    root_option,
)

if TYPE_CHECKING:
    from indexer import Indexer
    from indexer.records import MalformedFile, SessionRecord

__all__ = ("resolve_session", "search", "semantic_line", "sessions", "show", "stats")

_QUERY_CONTEXT = {"ignore_unknown_options": True}


def resolve_session(index: Indexer, ref: str) -> SessionRecord:
    """The session `ref` names: its id, a unique prefix of an id, or its file's path."""
    if ref.endswith(".md") or "/" in ref:
        path = Path(ref).expanduser()
        if not path.is_file():
            raise SessionNotFound(ref)
        parsed, _, _ = index.vault.read(path.resolve())
        ref = parsed.session.id
    record = index.get_session(ref)
    if record is not None:
        return record
    ids = index.session_ids_with_prefix(ref, limit=6) if ref else []
    if len(ids) == 1:
        found = index.get_session(ids[0])
        if found is not None:
            return found
    if len(ids) > 1:
        shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
        raise InvalidInput(f"'{ref}' is the start of several session ids: {shown}", field="session")
    raise SessionNotFound(ref)


@click.command(context_settings=_QUERY_CONTEXT)
@click.argument("query", nargs=-1, required=True)
@filter_options
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, type=click.IntRange(0))
@click.option(
    "--mode",
    type=click.Choice(["keyword", "semantic", "hybrid"]),
    default=None,
    help="Default: hybrid when semantic search is on and caught up, else keyword.",
)
@click.option("--tool", default=None, help="Only messages that call or answer this tool (Bash…).")
@root_option
@json_option
def search(
    query: tuple[str, ...],
    session: str | None,
    role: str | None,
    after: str | None,
    before: str | None,
    limit: int,
    offset: int,
    mode: str | None,
    tool: str | None,
    root: Path | None,
    as_json: bool,
) -> None:
    """Search every message: a question or words (ranked; docs/indexing.md), "phrases",
    +required, -exclude, a OR b, prefix*; by meaning too
    when semantic search is on (see `codearchitect semantic`). The words may be given
    unquoted, and a query may start with -word.

    Example:

    \b
        codearchitect search '"key rotation" jwt' --role assistant --limit 5
        codearchitect search -draft release notes
        codearchitect search "alembic upgrade" --tool Bash
    """
    with errors():
        index = open_index(root, must_exist=True)
        try:
            session_id = resolve_session(index, session).id if session else None
            result = index.search(
                " ".join(query),
                session_id=session_id,
                role=role,
                after=after,
                before=before,
                limit=limit,
                offset=offset,
                mode=mode,
                tool=tool,
            )
            malformed = index.status().malformed if not as_json else ()
        finally:
            index.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, show_edge=False)
    table.add_column("score")
    table.add_column("when", no_wrap=True)
    table.add_column("role")
    table.add_column("session", no_wrap=True, min_width=_widest(h.session_id for h in result.hits))
    table.add_column("snippet")
    if result.mode != "keyword":
        table.add_column("found by")
    for hit in result.hits:
        marked = hit.marked_snippet("\0", "\1")
        snippet = escape(marked).replace("\0", "[bold]").replace("\1", "[/bold]")
        table.add_row(
            f"{hit.score:.2f}",
            hit.created_at[:16].replace("T", " "),
            hit.role,
            hit.session_id,
            snippet.replace("\n", " "),
            *([",".join(hit.found_by)] if result.mode != "keyword" else []),
        )
    if result.hits:
        print_table(table)
    click.echo(f"{len(result.hits)} of {result.total} matches ({result.mode})")
    _note_malformed(malformed)


@click.command()
@click.option(
    "--status", type=click.Choice(["active", "idle", "compacted", "archived"]), default=None
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@root_option
@json_option
def sessions(status: str | None, limit: int, root: Path | None, as_json: bool) -> None:
    """List sessions, most recent activity first, with their whole ids (give one, or a
    unique start of one, to `show`). Files that cannot be read are listed after them,
    with the reason.

    Example:

        codearchitect sessions --status active --limit 20
    """
    with errors():
        index = open_index(root, must_exist=True)
        try:
            rows = index.list_sessions(status=status, limit=limit)
            malformed = [] if status else [_malformed_row(index, m) for m in _malformed(index)]
        finally:
            index.close()
    if as_json:
        data: list[dict[str, Any]] = [r.to_dict() for r in rows] + malformed
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    ids = [r.id for r in rows] + [m["id"] or "?" for m in malformed]
    table = Table(box=None, show_edge=False)
    table.add_column("updated", no_wrap=True)
    table.add_column("messages", justify="right")
    table.add_column("status")
    table.add_column("id", no_wrap=True, min_width=_widest(ids))
    table.add_column("title")
    for r in rows:
        table.add_row(
            r.updated_at[:16].replace("T", " "),
            str(r.message_count),
            r.status,
            r.id,
            escape(r.title),
        )
    for m in malformed:
        error = m["error"]
        where = f"{m['path']}:{error['line']}" if error["line"] else m["path"]
        table.add_row(
            "", "", "[bold]malformed[/bold]", m["id"] or "?", escape(f"{where}: {error['reason']}")
        )
    if ids:
        print_table(table)
    else:
        click.echo("no sessions")


@click.command()
@click.argument("session")
@click.option("--tail", type=click.IntRange(1), default=None, help="Only the last N messages.")
@click.option(
    "--range",
    "span",
    default=None,
    metavar="A:B",
    help="Only messages A to B (numbered from 1, both included; A: and :B are open).",
)
@click.option("--pager/--no-pager", default=None, help="Page the output (default: on a terminal).")
@root_option
@json_option
def show(
    session: str,
    tail: int | None,
    span: str | None,
    pager: bool | None,
    root: Path | None,
    as_json: bool,
) -> None:
    """Print a session's messages, numbered, with their thinking, tool calls and results.
    SESSION is its id, a unique start of its id, or the path of its file.

    Example:

    \b
        codearchitect show session-20250115-143022-jwt-key-rotation
        codearchitect show session-20250115 --tail 5
        codearchitect show .codearchitect/sessions/2025-01-15/session-….md --range 10:20
    """
    with errors():
        if tail is not None and span is not None:
            raise InvalidInput("give --tail or --range, not both", field="range")
        index = open_index(root, must_exist=True)
        try:
            record = resolve_session(index, session)
            total = record.message_count
            first, last = _span(span, tail, total)
            messages = index.get_messages(
                record.id, offset=first - 1, limit=max(0, last - first + 1)
            )
        finally:
            index.close()
    if as_json:
        data = {"session": record.to_dict(), "messages": [m.to_dict() for m in messages]}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    lines = [
        f"# {record.title or record.id}  ({record.id})",
        f"{record.path}  ·  {total} messages  ·  {record.status}",
    ]
    if (first, last) != (1, total):
        lines.append(f"messages {first}–{last} of {total}" if messages else "no messages there")
    for m in messages:
        edited = "  (edited)" if m.edited else ""
        lines += [
            "",
            f"--- #{m.position + 1} {m.role} · {m.created_at}{edited}",
            plain_text(m.role, m.content, m.metadata),
        ]
    text = "\n".join(lines)
    if pager if pager is not None else sys.stdout.isatty():
        click.echo_via_pager(text + "\n")
    else:
        click.echo(text)


@click.command()
@root_option
@json_option
def stats(root: Path | None, as_json: bool) -> None:
    """Counts and sizes of the vault and its index (--json: the same, as numbers).

    Example:

        codearchitect stats --json
    """
    with errors():
        index = open_index(root, must_exist=True)
        try:
            status = index.status().to_dict()
        finally:
            index.close()
    if as_json:
        click.echo(json.dumps(status, ensure_ascii=False, indent=2))
        return
    for label, value in stats_lines(status):
        click.echo(f"{label:>10}: {value}")


def stats_lines(status: dict[str, Any]) -> list[tuple[str, str]]:
    """`index_status` as a person reads it, one line per subject."""
    pending = status["fulltext_pending"]
    lag = human("lag_seconds", status["lag_seconds"])
    watcher = status["watcher"]
    return [
        (
            "files",
            f"{human('n', status['files_on_disk'])} on disk, "
            f"{human('n', status['files_indexed'])} indexed, "
            f"{len(status['malformed'])} malformed"
            + (" (codearchitect doctor)" if status["malformed"] else ""),
        ),
        ("sessions", human("n", status["sessions"])),
        ("messages", human("n", status["messages"])),
        (
            "full text",
            f"{human('n', status['fulltext_documents'])} documents"
            + (f", {human('n', pending)} changes waiting (oldest {lag})" if pending else ""),
        ),
        (
            "watcher",
            f"{watcher}" if watcher else "none in this process (a running server keeps it)",
        ),
        (
            "reconciled",
            status["last_reconcile"] or "never",
        ),
        ("schema", str(status["schema_version"])),
        ("semantic", semantic_line(status["semantic"])),
    ]


def semantic_line(semantic: dict[str, Any]) -> str:
    """Semantic search's state in one line: off and why, or on with its progress."""
    if not semantic.get("enabled"):
        reason = semantic.get("reason")
        return "off" + (f" ({reason})" if reason else "")
    parts = [f"on, model {semantic.get('model')}"]
    if "error" in semantic:
        parts.append(f"not working: {semantic['error']}")
    if "embedded" in semantic:
        parts.append(
            f"{human('n', semantic['embedded'])} embedded, "
            f"{human('n', semantic.get('pending', 0))} waiting"
            + (
                f" (oldest {human('lag_seconds', semantic['lag_seconds'])})"
                if semantic.get("pending")
                else ""
            )
        )
    if "vector_disk_bytes" in semantic:
        parts.append(f"vectors {human('vector_disk_bytes', semantic['vector_disk_bytes'])}")
    return ", ".join(parts)


def _span(span: str | None, tail: int | None, total: int) -> tuple[int, int]:
    """(first, last) message numbers, 1-based and inclusive, within 1..total."""
    if tail is not None:
        return max(1, total - tail + 1), total
    if span is None:
        return 1, total
    match = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", span)
    if match is None or span.strip() == ":":
        raise InvalidInput(f"--range must be A:B, A: or :B (got {span!r})", field="range")
    first = int(match.group(1)) if match.group(1) else 1
    last = int(match.group(2)) if match.group(2) else total
    if first < 1 or last < first:
        raise InvalidInput(f"--range {span}: A must be at least 1 and B at least A", field="range")
    return first, min(last, total)


def _widest(ids: Any) -> int:
    return max((len(i) for i in ids), default=0)


def _malformed(index: Indexer) -> tuple[MalformedFile, ...]:
    return index.status().malformed


def _malformed_row(index: Indexer, bad: MalformedFile) -> dict[str, Any]:
    """A malformed file as a `sessions --json` row: its id when the file still names one."""
    sid: str | None = None
    try:
        head = (index.vault.sessions_dir / bad.path).read_bytes()[:4096].decode("utf-8", "replace")
        found = re.search(r"^id:\s*['\"]?([^'\"\s]+)", head, re.MULTILINE)
        sid = found.group(1) if found else None
    except OSError:
        pass
    return {
        "id": sid,
        "path": bad.path,
        "status": "malformed",
        "error": {"code": "MALFORMED_SESSION_FILE", "line": bad.line, "reason": bad.reason},
    }


def _note_malformed(malformed: tuple[MalformedFile, ...]) -> None:
    if malformed:
        n = len(malformed)
        rich_console(err=True).print(
            f"note: {n} session file{'s are' if n > 1 else ' is'} malformed and not searched "
            "(codearchitect doctor)",
            markup=False,
        )
