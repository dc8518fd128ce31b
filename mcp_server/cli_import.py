"""`codearchitect import` and `codearchitect capture`: bringing existing history in."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from vault import Vault, find_project_root

from .cli_common import errors, json_option, rich_console, root_option

__all__ = ("capture", "import_", "is_record_skip", "summary_lines")


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
    records = [s for s in data["skipped"] if is_record_skip(s["what"], s["reason"])]
    others = [s for s in data["skipped"] if not is_record_skip(s["what"], s["reason"])]
    counts = [
        f"{data['created']} session(s) created",
        f"{data['grown']} grown",
        f"{data['unchanged']} unchanged",
        f"{data['messages_added']:,} message(s) added",
    ]
    if others:
        counts.append(f"{len(others)} source(s)/conversation(s) skipped")
    noise = sum(_record_count(s["reason"]) for s in records)
    if noise:
        counts.append(f"{noise:,} record(s) skipped" + ("" if verbose else " (--verbose)"))
    head = "[dry run] would import" if dry_run else "imported"
    lines = [f"{head} {source} into {into}: {', '.join(counts)} ({data['seconds']:.1f} s)"]
    lines += [f"skipped {s['what']}: {s['reason']}" for s in others]
    lines += [
        f"changed in the source after import (kept as imported): {c['session_id']} "
        f"{c['message_id']}"
        for c in data["changed_after_import"]
    ]
    if verbose:
        lines += [f"skipped record {s['what']}: {s['reason']}" for s in records]
    return lines


_RECORD = re.compile(
    r"message object|message without|without a (message|uuid|\(unique\) uuid)|duplicate "
    r"(message )?uuid|unknown sender|node object|unreachable|not a JSON object|malformed JSON|"
    r"incomplete last line|unknown record type|end-marker|empty \w+ message|record\(s\)"
)


def is_record_skip(what: str, reason: str) -> bool:
    """A skipped record (a line, a node, a message of a conversation that was imported),
    as opposed to a whole source file or conversation."""
    from vault.importers.common import is_noise

    return is_noise(reason) or bool(re.search(r":\d+$", what)) or bool(_RECORD.search(reason))


def _record_count(reason: str) -> int:
    found = re.match(r"(\d+) .*record\(s\)", reason) or re.search(r"\((\d+) record\(s\)\)", reason)
    return int(found.group(1)) if found else 1


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
