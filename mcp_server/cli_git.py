"""`codearchitect merge-file`, `git setup` and `resolve`: sharing a vault through git.

`merge-file` is the merge driver git runs for session files (docs/git.md); `git setup`
registers it in a clone (`init` does too); `resolve` puts right what a clone without it
was left with. `doctor` reads `findings` for the same checks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vault import InvalidInput, Vault, VaultError, find_project_root
from vault.journal import JournalEntry

from .cli_common import errors, json_option, root_option

__all__ = ("findings", "git", "merge_file", "not_shared_deletions", "resolve", "setup_clone")


@click.command("merge-file")
@click.argument("base", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("ours", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("theirs", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("path", required=False)
def merge_file(base: Path, ours: Path, theirs: Path, path: str | None) -> None:
    """Merge two versions of a session file by message id, into OURS.

    git runs it as `merge-file %O %A %B %P` (see `codearchitect git setup`). Exits 1
    only when a message was edited differently on both sides: both versions are then
    kept side by side with a note in the file.

    Example:

        codearchitect merge-file base.md ours.md theirs.md
    """
    from vault.gitshare import repo
    from vault.gitshare.merge import merge

    name = path or str(ours)
    base_data = base.read_bytes() if base.is_file() else b""
    ours_data, theirs_data = ours.read_bytes(), theirs.read_bytes()
    try:
        result = merge(base_data or None, ours_data, theirs_data, Path(name))
    except VaultError as exc:
        click.echo(f"codearchitect: {name}: {exc}; merged line by line instead", err=True)
        data, clean = repo.text_merge(base_data, ours_data, theirs_data)
        ours.write_bytes(data)
        sys.exit(0 if clean else 1)
    ours.write_bytes(result.data)
    if result.conflicts:
        ids = ", ".join(result.conflicts)
        click.echo(
            f"codearchitect: {name}: edited differently on both sides: {ids}; both versions "
            "are kept side by side (see the note in the file)",
            err=True,
        )
        sys.exit(1)


@click.group()
def git() -> None:
    """Share the vault through git (docs/git.md)."""


@git.command("setup")
@click.option(
    "--hook/--no-hook",
    default=None,
    help="Install `codearchitect scan --staged` as the clone's pre-commit hook "
    "(default: ask when run in a terminal).",
)
@root_option
def git_setup(hook: bool | None, root: Path | None) -> None:
    """Register the session-file merge driver in this clone (run once per clone), and
    offer the pre-commit secret check.

    Writes `.codearchitect/.gitattributes` (commit it) and the driver in the clone's
    `.git/config`, which git never shares. The pre-commit hook is never overwritten: a
    shell hook gets the check added at its top, any other is left alone.

    Example:

        codearchitect git setup
    """
    found = find_project_root(root)
    with errors():
        vault = Vault(found.path)
        vault.init()
        lines = setup_clone(vault)
    if lines is None:
        raise click.ClickException(
            f"[INVALID_INPUT] {vault.root} is not in a git clone (run git init or git clone first)"
        )
    for line in lines:
        click.echo(line)
    _offer_hook(vault, hook)


def _offer_hook(vault: Vault, wanted: bool | None) -> None:
    from vault.gitshare import repo, setup
    from vault.redaction.hook import hook_command, install_hook, is_installed

    top = repo.toplevel(vault.root)
    if top is None or wanted is False:
        return
    program = setup.driver_command().rsplit(" merge-file", 1)[0]
    if is_installed(top):
        click.echo("pre-commit: the secret check is installed")
        return
    if wanted is None:
        if not sys.stdin.isatty():
            click.echo(
                "pre-commit: not installed; `codearchitect git setup --hook` adds "
                f"`{hook_command(program)}` to this clone's pre-commit hook"
            )
            return
        wanted = click.confirm(
            "Check staged session files for secrets before each commit (pre-commit hook)?",
            default=True,
        )
        if not wanted:
            return
    installed, what = install_hook(top, program)
    click.echo(what, err=not installed)


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@root_option
@json_option
def resolve(files: tuple[Path, ...], root: Path | None, as_json: bool) -> None:
    """Merge session files git left with conflict markers, by the driver's rule; with
    no FILES, every such file, and fold each session id claimed by several files into one.

    Example:

        codearchitect resolve .codearchitect/sessions/2025-01-15/session-20250115-143022-auth.md
    """
    import json

    from vault.gitshare import repo
    from vault.gitshare.resolve import ambiguous, fold, resolve_file, scan

    found = find_project_root(root)
    done = []
    with errors():
        vault = Vault(found.path)
        if files:
            targets = [_session_path(vault, f) for f in files]
        else:
            targets = sorted({f.path for f in scan(vault) if f.code == "CONFLICT_MARKERS"})
            top = repo.toplevel(vault.root)
            if top is not None and vault.sessions_dir.is_dir():
                targets = sorted({*targets, *repo.unmerged_paths(top, vault.sessions_dir)})
        for target in targets:
            resolution = resolve_file(vault, target)
            if resolution is not None:
                done.append(resolution)
            elif files:
                click.echo(f"{target}: no conflict to resolve", err=True)
        if not files:
            for session_id, paths in list(ambiguous(vault)):
                done.append(fold(vault, session_id, paths))
    if as_json:
        out = [
            {
                "path": str(r.path),
                "messages": r.messages,
                "conflicts": list(r.conflicts),
                "from": r.source,
            }
            for r in done
        ]
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for r in done:
        click.echo(f"resolved {r.path} ({r.source}): {r.messages} messages")
        for mid in r.conflicts:
            click.echo(f"  message {mid} was edited on both sides: both versions kept")
    if not done:
        click.echo("nothing to resolve")


def setup_clone(vault: Vault) -> list[str] | None:
    """Run `git setup`'s steps for the clone holding `vault`; None when not in a clone."""
    from vault.gitshare import repo, setup

    top = repo.toplevel(vault.root)
    if top is None:
        return None
    clone = setup.Clone(top, vault.dir, setup.driver_command())
    return [f"{name}: {what}" for name, what in setup.run(clone)]


def findings(vault: Vault) -> list[dict[str, object]]:
    """What `doctor` reports about sharing: conflict markers, messages kept twice, ids
    claimed by several files, and a clone lacking the merge driver (unless git ignores
    the sessions: a vault that is not shared needs none)."""
    from vault.gitshare import repo, setup
    from vault.gitshare.resolve import scan

    out = [f.to_dict() for f in scan(vault)]
    top = repo.toplevel(vault.root)
    clone = setup.Clone(top, vault.dir, setup.driver_command()) if top is not None else None
    if clone is not None and not repo.ignored(clone.top, clone.sample):
        for step in setup.missing(clone):
            out.append(
                {
                    "code": "NO_MERGE_DRIVER",
                    "path": str(top),
                    "line": 0,
                    "message": f"this clone lacks the session merge driver ({step.name}): "
                    "run codearchitect git setup",
                }
            )
    return out


def not_shared_deletions(vault: Vault, entries: list[JournalEntry]) -> list[JournalEntry]:
    """The acknowledged messages missing from their files, less those whose deletion came
    through git (committed once, then removed by a commit: made here, or merged from
    another clone that deleted them), which are not lost."""
    from vault.gitshare import repo

    top = repo.toplevel(vault.root) if entries else None
    if top is None:
        return entries
    return [
        e for e in entries if not repo.removed_by_a_commit(top, vault.sessions_dir, e.message.id)
    ]


def _session_path(vault: Vault, given: Path) -> Path:
    path = given.absolute()
    if path.parent.parent.resolve() != vault.sessions_dir or not path.is_file():
        raise InvalidInput(f"{given} is not a session file of {vault.sessions_dir}", field="files")
    return path
