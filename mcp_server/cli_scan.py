"""`codearchitect scan`: secrets already in session files, and the pre-commit check.

    codearchitect scan [PATHS…]        # report file:line: kind, exit 1 if any
    codearchitect scan --fix [PATHS…]  # redact them in place (atomic rewrite)
    codearchitect scan --staged        # pre-commit: the staged session files

Values are never printed: only where a secret is and what kind it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from vault import MalformedSessionFile, Vault, VaultError, find_project_root, is_session_name
from vault.files import read_bytes, write_atomic
from vault.redaction import Redactions
from vault.redaction.scanning import Found, scan_bytes
from vault.redaction.staged import GitError, staged_session_files

from .cli_common import errors, json_option, root_option

__all__ = ("scan", "secret_report")

_CACHE_NAME = "secrets.json"
_CACHE_VERSION = 1

PRE_COMMIT_HINT = (
    "Redact them with `codearchitect scan --fix`, then `git add` the files again "
    "(allow a false positive in .codearchitect/config.json, see docs/git.md)."
)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--fix", is_flag=True, help="Redact what is found, in place.")
@click.option(
    "--staged", is_flag=True, help="Check the session files staged for commit (a pre-commit hook)."
)
@root_option
@json_option
def scan(
    paths: tuple[Path, ...], fix: bool, staged: bool, root: Path | None, as_json: bool
) -> None:
    """Find secrets in session files (all of the vault's, or PATHS); exit 1 if any remain.

    --staged checks what git is about to commit instead (exit 1 naming file and line):
    the pre-commit hook.

    Example:

        codearchitect scan --fix .codearchitect/sessions/2025-01-15
    """
    if staged and (fix or paths):
        raise click.UsageError("--staged checks what git will commit; it takes no PATHS or --fix")
    vault = Vault(find_project_root(root).path)
    with errors():
        if staged:
            _staged(vault, as_json)
            return
        files = list(_session_files(vault, paths))
        findings, unreadable = _scan_files(vault, files)
        fixed = _fix(vault, findings) if fix and findings else Redactions()
    remaining = [f for f in findings if not fix or f.where == "file"]
    report: dict[str, Any] = {
        "files_scanned": len(files),
        "secrets": len(findings),
        "files_with_secrets": len({f.path for f in findings}),
        "found": [_finding(f) for f in findings],
        "redacted": fixed.to_dict() if fix else {},
        "unfixable": sorted({_rel(f.path) for f in remaining}) if fix else [],
        "unreadable": unreadable,
    }
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for f in findings:
            click.echo(f"{_rel(f.path)}:{f.line}: {f.kind} ({f.where})")
        for what in unreadable:
            click.echo(f"cannot read {what}", err=True)
        if fix:
            click.echo(
                f"redacted {fixed.total} secret(s) in {report['files_with_secrets']} file(s)"
            )
            for path in report["unfixable"]:
                click.echo(f"cannot fix {path}: it does not parse (edit it by hand)", err=True)
        else:
            click.echo(
                f"{len(findings)} secret(s) in {report['files_with_secrets']} of "
                f"{len(files)} session file(s)"
                + ("; redact them with `codearchitect scan --fix`" if findings else "")
            )
    if remaining or unreadable:
        sys.exit(1)


def secret_report(vault: Vault) -> dict[str, Any]:
    """What `doctor` says of unredacted secrets: how many, in which files, by kind; and
    the redaction settings it could not obey. A file whose (inode, size, mtime) and the
    project's settings are as at the last run is not read again (the counts are kept in
    `.codearchitect/index/secrets.json`, local and rebuilt when missing)."""
    redactor = vault.redactor()
    cache_path = vault.index_dir / _CACHE_NAME
    config = redactor.config
    settings = repr(
        (
            _CACHE_VERSION,
            config.enabled,
            sorted(config.allow),
            sorted(config.disable),
            [p.pattern for p in config.allow_patterns],
        )
    )
    try:
        cached = json.loads(cache_path.read_text(encoding="utf-8"))
        if cached.get("settings") != settings:
            cached = {}
    except (OSError, ValueError, AttributeError):
        cached = {}
    known: dict[str, Any] = cached.get("files", {}) if isinstance(cached, dict) else {}
    files: dict[str, Any] = {}
    for path in vault.session_paths():
        try:
            st = path.stat()
        except OSError:
            continue
        stamp = [st.st_ino, st.st_size, st.st_mtime_ns]
        entry = known.get(str(path))
        if not (isinstance(entry, dict) and entry.get("stamp") == stamp):
            found, _ = _scan_files(vault, [path])
            entry = {"stamp": stamp, "kinds": [f.kind for f in found]}
        files[str(path)] = entry
    if vault.index_dir.is_dir():
        with contextlib.suppress(OSError, VaultError):
            write_atomic(cache_path, json.dumps({"settings": settings, "files": files}).encode())
    kinds: dict[str, int] = {}
    for entry in files.values():
        for kind in entry["kinds"]:
            kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "count": sum(kinds.values()),
        "files": sorted(p for p, e in files.items() if e["kinds"]),
        "kinds": dict(sorted(kinds.items())),
        "config_problems": list(redactor.config.problems),
    }


def _staged(vault: Vault, as_json: bool) -> None:
    try:
        staged = staged_session_files(Path.cwd())
    except GitError as exc:
        raise click.ClickException(f"scan --staged: {exc}") from exc
    redactor = vault.redactor()
    findings: list[Found] = []
    for path, data in staged:
        findings.extend(scan_bytes(data, path, redactor)[0])
    if as_json:
        click.echo(
            json.dumps(
                {"files_scanned": len(staged), "found": [_finding(f) for f in findings]},
                indent=2,
            )
        )
    elif findings:
        click.echo("codearchitect: secrets in staged session files:", err=True)
        for f in findings:
            click.echo(f"  {_rel(f.path)}:{f.line}: {f.kind} ({f.where})", err=True)
        click.echo(PRE_COMMIT_HINT, err=True)
    if findings:
        sys.exit(1)


def _session_files(vault: Vault, paths: tuple[Path, ...]) -> Iterator[Path]:
    if not paths:
        yield from vault.session_paths()
        return
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.md") if is_session_name(p.name))
        else:
            yield path


def _scan_files(vault: Vault, files: list[Path]) -> tuple[list[Found], list[str]]:
    redactor = vault.redactor()
    findings: list[Found] = []
    unreadable: list[str] = []
    for path in files:
        try:
            data, _ = read_bytes(path)  # no link followed, no FIFO waited for
        except OSError as exc:
            unreadable.append(f"{_rel(path)}: {exc.strerror or exc}")
            continue
        except VaultError as exc:
            unreadable.append(f"{_rel(path)}: {exc}")
            continue
        findings.extend(scan_bytes(data, path, redactor)[0])
    return findings, unreadable


def _fix(vault: Vault, findings: list[Found]) -> Redactions:
    """Redact every fixable file through the vault's atomic rewrite, then bring the index
    (if the project has one) up to date."""
    total = Redactions()
    for path in sorted({f.path for f in findings if f.where != "file"}):
        try:
            parsed, _, _ = vault.read(path)
        except MalformedSessionFile:
            continue
        total.update(vault.redact_session(parsed.session.id))
    if vault.index_dir.is_dir() and total.total:
        from indexer import Indexer

        index = Indexer(vault).open()
        try:
            index.reconcile()
        finally:
            index.close()
    return total


def _finding(f: Found) -> dict[str, Any]:
    return {"path": _rel(f.path), "line": f.line, "kind": f.kind, "where": f.where}


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
