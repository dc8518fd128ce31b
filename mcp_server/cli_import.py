"""`codearchitect import` and `codearchitect capture`: bringing existing history in."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from vault import Vault, find_project_root

from .cli_common import errors, json_option, rich_console, root_option

__all__ = ("capture", "import_", "summary_lines")


@click.command("import")
@click.argument("source", type=click.Choice(["claude-code", "claude-ai", "chatgpt"]))
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--all", "all_projects", is_flag=True, help="claude-code: every project's transcripts."
)
@click.option("--dry-run", is_flag=True, help="Write nothing; report what would happen.")
@click.option("--verbose", "-v", is_flag=True, help="Also list every skipped record.")
@root_option
@json_option
def import_(
    source: str,
    paths: tuple[Path, ...],
    all_projects: bool,
    dry_run: bool,
    verbose: bool,
    root: Path | None,
    as_json: bool,
) -> None:
    """Import Claude Code transcripts, or a claude.ai / ChatGPT export, into the vault.

    Re-importing is safe: ids come from the source, so nothing is duplicated, and a grown
    transcript only gets its new messages appended. With no PATH, claude-code imports the
    transcripts of this project from ~/.claude/projects/ ($CLAUDE_CONFIG_DIR honoured).

    Prints one summary line; sources or conversations that were skipped get a line each,
    skipped records (progress, hooks, broken lines) only with --verbose.

    Example:

    \b
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
            console=rich_console(err=True),
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
    for line in summary_lines(data, source, str(vault.dir), dry_run, verbose):
        click.echo(line)


def summary_lines(
    data: dict[str, Any], source: str, into: str, dry_run: bool, verbose: bool
) -> list[str]:
    """One summary line; then a line per skipped source or conversation, per message
    changed in the source after import, and (verbose) per skipped record."""
    sources, records = data["skipped_sources"], data["skipped_records"]
    counts = [
        f"{data['created']} session(s) created",
        f"{data['grown']} grown",
        f"{data['unchanged']} unchanged",
        f"{data['messages_added']:,} message(s) added",
    ]
    if sources:
        counts.append(f"{len(sources)} source(s)/conversation(s) skipped")
    noise = sum(s["count"] for s in records)
    if noise:
        counts.append(f"{noise:,} record(s) skipped" + ("" if verbose else " (--verbose)"))
    head = "[dry run] would import" if dry_run else "imported"
    lines = [f"{head} {source} into {into}: {', '.join(counts)} ({data['seconds']:.1f} s)"]
    lines += [f"skipped {s['what']}: {s['reason']}" for s in sources]
    lines += [
        f"changed in the source after import (kept as imported): {c['session_id']} "
        f"{c['message_id']}"
        for c in data["changed_after_import"]
    ]
    if verbose:
        lines += [f"skipped record {s['what']}: {s['reason']}" for s in records]
    return lines


@click.group()
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
