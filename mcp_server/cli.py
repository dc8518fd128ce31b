"""The `codearchitect` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from vault import SessionNotFound, Vault, find_project_root
from vault.message_views import plain_text

from .cli_common import (
    echo_mapping,
    errors,
    filter_options,
    json_option,
    open_index,
    rich_console,
    root_option,
)
from .cli_git import findings, git, merge_file, resolve, setup_clone
from .cli_import import capture, import_
from .cli_project import project
from .cli_semantic import semantic

__all__ = ("cli", "main")


@click.group()
@click.version_option(package_name="codearchitect")
def cli() -> None:
    """A file-first markdown memory vault for AI conversation sessions."""


@cli.command()
@root_option
def init(root: Path | None) -> None:
    """Create .codearchitect/ (sessions, trash, .gitignore) in the project; in a git
    clone, also set up the session merge driver (see `codearchitect git setup`).

    Example:

        codearchitect init --root ~/code/myproject
    """
    found = find_project_root(root)
    if found.warning is not None:
        click.echo(f"warning: {found.warning.message}", err=True)
    with errors():
        vault = Vault(found.path)
        vault.init()
        shared = setup_clone(vault)
    click.echo(f"vault ready: {vault.dir}")
    for line in shared or ["not a git clone: run `codearchitect git setup` once it is one"]:
        click.echo(line)


@cli.command()
@root_option
def serve(root: Path | None) -> None:
    """Serve the project's vault over MCP on stdio.

    Example:

        codearchitect serve --root ~/code/myproject
    """
    from .serve import run_server

    run_server(root)


@cli.command()
@root_option
def reindex(root: Path | None) -> None:
    """Rebuild the index from the session files (drops and re-reads everything).

    Example:

        codearchitect reindex
    """
    from rich.progress import Progress

    from indexer import Indexer

    found = find_project_root(root)
    with errors():
        index = Indexer(Vault(found.path)).open(check=True)
        try:
            with Progress(console=rich_console(err=True), transient=True) as bar:
                task = bar.add_task("indexing", total=None)

                def progress(phase: str, done: int, total: int) -> None:
                    bar.update(task, description=phase, completed=done, total=total)

                report = index.rebuild(progress=progress)
            status = index.status().to_dict()
        finally:
            index.close()
    click.echo(
        f"indexed {status['sessions']} sessions, {status['messages']} messages "
        f"from {report.scanned} files in {report.seconds:.2f}s"
    )
    for bad in status["malformed"]:
        click.echo(f"malformed: {bad['path']}:{bad['line']}: {bad['reason']}", err=True)


@cli.command()
@click.argument("query")
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
    query: str,
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
    """Search every message: words, "phrases", -exclude, a OR b, prefix*; by meaning too
    when semantic search is on (see `codearchitect semantic`).

    Example:

        codearchitect search '"key rotation" jwt' --role assistant --limit 5

        codearchitect search "alembic upgrade" --tool Bash
    """
    with errors():
        index = open_index(root)
        try:
            result = index.search(
                query,
                session_id=session,
                role=role,
                after=after,
                before=before,
                limit=limit,
                offset=offset,
                mode=mode,
                tool=tool,
            )
        finally:
            index.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    from rich.table import Table

    table = Table("score", "when", "role", "session", "snippet", box=None, show_edge=False)
    if result.mode != "keyword":
        table.add_column("found by")
    for hit in result.hits:
        table.add_row(
            f"{hit.score:.2f}",
            hit.created_at[:16].replace("T", " "),
            hit.role,
            hit.session_title or hit.session_id,
            hit.marked_snippet("[bold]", "[/bold]").replace("\n", " "),
            *([",".join(hit.found_by)] if result.mode != "keyword" else []),
        )
    console = rich_console()
    console.print(table)
    console.print(f"{len(result.hits)} of {result.total} matches ({result.mode})")


@cli.command()
@click.option(
    "--status", type=click.Choice(["active", "idle", "compacted", "archived"]), default=None
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@root_option
@json_option
def sessions(status: str | None, limit: int, root: Path | None, as_json: bool) -> None:
    """List sessions, most recent activity first.

    Example:

        codearchitect sessions --status active --limit 20
    """
    with errors():
        index = open_index(root)
        try:
            rows = index.list_sessions(status=status, limit=limit)
        finally:
            index.close()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=2))
        return
    from rich.table import Table

    table = Table("updated", "messages", "status", "id", "title", box=None, show_edge=False)
    for r in rows:
        table.add_row(
            r.updated_at[:16].replace("T", " "), str(r.message_count), r.status, r.id, r.title
        )
    rich_console().print(table)


@cli.command()
@click.argument("session")
@root_option
@json_option
def show(session: str, root: Path | None, as_json: bool) -> None:
    """Print a session's messages, with their thinking, tool calls and results.

    Example:

        codearchitect show session-20250115-143022-jwt-key-rotation
    """
    with errors():
        index = open_index(root)
        try:
            record = index.get_session(session)
            if record is None:
                raise SessionNotFound(session)
            messages = index.get_messages(session)
        finally:
            index.close()
    if as_json:
        data = {"session": record.to_dict(), "messages": [m.to_dict() for m in messages]}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"# {record.title or record.id}  ({record.id})")
    click.echo(f"{record.path}  ·  {record.message_count} messages  ·  {record.status}")
    for m in messages:
        click.echo(f"\n--- {m.role} · {m.created_at}{'  (edited)' if m.edited else ''}")
        click.echo(plain_text(m.role, m.content, m.metadata))


@cli.command()
@root_option
@json_option
def doctor(root: Path | None, as_json: bool) -> None:
    """Check files against the index: malformed files, lost acknowledged messages, lag.

    Exits 1 when something needs attention.

    Example:

        codearchitect doctor
    """
    with errors():
        index = open_index(root, check=True)
        try:
            status = index.status().to_dict()
            missing = [e.to_dict() for e in index.vault.acked_missing()]
            git_found = findings(index.vault)
        finally:
            index.close()
    report = {"status": status, "acked_missing": missing, "git": git_found}
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(
            f"files: {status['files_on_disk']} on disk, {status['files_indexed']} indexed  "
            f"sessions: {status['sessions']}  messages: {status['messages']}"
        )
        for bad in status["malformed"]:
            click.echo(f"MALFORMED_SESSION_FILE {bad['path']}:{bad['line']}: {bad['reason']}")
        for entry in missing:
            click.echo(
                f"ACKED_MISSING {entry['message_id']} in {entry['session_id']} "
                f"(restore: codearchitect restore {entry['message_id']})"
            )
        for f in git_found:
            click.echo(f"{f['code']} {f['path']}:{f['line']}: {f['message']}")
        if not status["malformed"] and not missing and not git_found:
            click.echo("ok")
    if status["malformed"] or missing or git_found:
        sys.exit(1)


@cli.command()
@click.argument("message_id")
@root_option
def restore(message_id: str, root: Path | None) -> None:
    """Put back an acknowledged message that an outside edit removed (see doctor).

    Example:

        codearchitect restore m01JH3Q8Z6M3V1R6Y8S9T0W2X4C
    """
    with errors():
        index = open_index(root)
        try:
            appended = index.vault.restore_acked(message_id)
            index.reconcile()
        finally:
            index.close()
    click.echo(f"restored {message_id} to {appended.session_id}")


@cli.command()
@root_option
@json_option
def stats(root: Path | None, as_json: bool) -> None:
    """Counts and sizes of the vault and its index.

    Example:

        codearchitect stats --json
    """
    with errors():
        index = open_index(root)
        try:
            status = index.status().to_dict()
        finally:
            index.close()
    echo_mapping(status, as_json, 18, skip=("malformed",))
    if not as_json:
        click.echo(f"{'malformed':>18}: {len(status['malformed'])}")


for _command in (import_, capture, semantic, project, git, merge_file, resolve):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="codearchitect")


if __name__ == "__main__":
    main()
