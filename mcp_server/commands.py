"""The `codearchitect` command line: the click group and its commands (`mcp_server.cli`
is the entry point, which starts `serve` and the capture hook without loading them)."""

from __future__ import annotations

from pathlib import Path

import click

from vault import Vault, find_project_root

from .cli_common import errors, existing_vault, rich_console, root_option
from .cli_doctor import doctor, restore
from .cli_git import git, merge_file, resolve, setup_clone
from .cli_import import capture, import_
from .cli_project import project
from .cli_read import search, sessions, show, stats
from .cli_scan import scan
from .cli_semantic import semantic

__all__ = ("cli",)


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

    with errors():
        index = Indexer(existing_vault(root)).open(check=True)
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


for _command in (
    *(search, sessions, show, doctor, restore, stats),
    *(import_, capture, semantic, project, git, merge_file, resolve, scan),
):
    cli.add_command(_command)
