"""`codearchitect doctor` and `codearchitect restore`: what needs a person's attention in
the vault, one line per problem, and the two ways to settle a lost message: put it back
(`restore`) or say its removal was meant (`doctor --forget`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .cli_common import errors, json_option, open_index, root_option
from .cli_git import findings, not_shared_deletions
from .cli_scan import secret_report

__all__ = ("doctor", "restore")


@click.command()
@click.option(
    "--forget",
    "forget",
    multiple=True,
    metavar="ID",
    help="A message you removed on purpose (or a session: all its removed messages): "
    "doctor stops reporting it. Repeatable.",
)
@root_option
@json_option
def doctor(forget: tuple[str, ...], root: Path | None, as_json: bool) -> None:
    """Check files against the index: malformed files, lost acknowledged messages, lag,
    secrets not redacted.

    One line per problem, with the command that settles it. Exits 1 when something needs
    attention.

    Example:

    \b
        codearchitect doctor
        codearchitect doctor --forget m01JH3Q8Z6M3V1R6Y8S9T0W2X4C
    """
    with errors():
        index = open_index(root, check=True, must_exist=True)
        try:
            forgotten = index.vault.forget_acked(list(forget)) if forget else []
            status = index.status().to_dict()
            lost = not_shared_deletions(index.vault, index.vault.acked_missing())
            missing = [e.to_dict() for e in lost]
            git_found = findings(index.vault)
            secrets = secret_report(index.vault)
        finally:
            index.close()
    report = {
        "status": status,
        "acked_missing": missing,
        "git": git_found,
        "forgotten": forgotten,
        "unredacted_secrets": secrets,
    }
    attention = secrets["count"] or secrets["config_problems"]
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for message_id in forgotten:
            click.echo(f"forgotten: {message_id} (its removal was meant)")
        click.echo(
            f"files: {status['files_on_disk']} on disk, {status['files_indexed']} indexed  "
            f"sessions: {status['sessions']}  messages: {status['messages']}"
        )
        for bad in status["malformed"]:
            where = f"{bad['path']}:{bad['line']}" if bad["line"] else bad["path"]
            click.echo(
                f"MALFORMED_SESSION_FILE {where}: {bad['reason']} "
                "(fix the file in an editor; it is not searched until then)"
            )
        for entry in missing:
            click.echo(
                f"ACKED_MISSING {entry['message_id']} in {entry['session_id']} "
                f"(put it back: codearchitect restore {entry['message_id']}; "
                f"removed on purpose: codearchitect doctor --forget {entry['message_id']})"
            )
        for f in git_found:
            click.echo(f"{f['code']} {f['path']}:{f['line']}: {f['message']}")
        if secrets["count"]:
            click.echo(
                f"UNREDACTED_SECRETS {secrets['count']} in {len(secrets['files'])} file(s) "
                "(list: codearchitect scan; redact: codearchitect scan --fix)"
            )
        for problem in secrets["config_problems"]:
            click.echo(f"REDACTION_CONFIG {problem} (see docs/git.md#secret-redaction)")
        if not status["malformed"] and not missing and not git_found and not attention:
            click.echo("ok")
    if status["malformed"] or missing or git_found or attention:
        sys.exit(1)


@click.command()
@click.argument("message_ids", nargs=-1, required=True)
@root_option
def restore(message_ids: tuple[str, ...], root: Path | None) -> None:
    """Put back acknowledged messages that an outside edit removed (see doctor), each in
    its place by time among its session's messages; in the order given, stopping at the
    first that cannot be restored (those before it stay restored).

    Example:

        codearchitect restore m01JH3Q8Z6M3V1R6Y8S9T0W2X4C
    """
    with errors():
        index = open_index(root, must_exist=True)
        try:
            for message_id, session_id, position in index.vault.restore_acked_many(message_ids):
                click.echo(f"restored {message_id} to {session_id} as message {position + 1}")
            index.reconcile()
        finally:
            index.close()
