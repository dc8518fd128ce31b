"""What every `codearchitect` command shares: options, error reporting, opening the index."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from vault import Vault, VaultError, find_project_root

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from indexer import Indexer

F = TypeVar("F", bound=Callable[..., Any])

__all__ = (
    "echo_mapping",
    "errors",
    "filter_options",
    "human",
    "json_option",
    "open_index",
    "print_table",
    "rich_console",
    "root_option",
)


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


def existing_vault(root: Path | None) -> Vault:
    """The project's vault for a command that reads or maintains one (the read-only
    commands, `reindex`, `semantic status|embed`): it never creates one, and without
    `.codearchitect/` stops with `VAULT_NOT_FOUND` (`init` creates a vault)."""
    found = find_project_root(root)
    vault = Vault(found.path)
    if not vault.dir.is_dir():
        raise click.ClickException(
            f"[VAULT_NOT_FOUND] no vault in {found.path} (no .codearchitect/): "
            "run `codearchitect init` there, or give --root"
        )
    if found.warning is not None:
        click.echo(f"warning: {found.warning.message}", err=True)
    return vault


def open_index(root: Path | None, *, check: bool = False, must_exist: bool = False) -> Indexer:
    """The project's index, reconciled with the files (only changed files are re-read);
    `check` first reads the whole SQLite mirror for damage (doctor). With `must_exist`
    it never creates a vault (`existing_vault`)."""
    from indexer import Indexer

    if must_exist:
        vault = existing_vault(root)
    else:
        found = find_project_root(root)
        vault = Vault(found.path)
        if found.warning is not None:
            click.echo(f"warning: {found.warning.message}", err=True)
    index = Indexer(vault).open(check=check)
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


def rich_console(err: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=err, highlight=False)


def print_table(table: Table) -> None:
    """A table on stdout: fitted to the terminal on a terminal; otherwise as wide as its
    longest row, so that piped output never wraps an id or a path mid-name."""
    from rich.console import Console

    if sys.stdout.isatty():
        Console(highlight=False).print(table)
        return
    console = Console(highlight=False, width=100_000)
    with console.capture() as captured:
        console.print(table)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def human(key: str, value: Any) -> str:
    """A status value as a person reads it: sizes in kB/MB, seconds with a unit, counts with
    thousands separators, yes/no, 'none' for nothing, a mapping as `key value, …`."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        if value.get("enabled") is False and len(value) <= 2:
            return "off"
        return ", ".join(f"{k.replace('_', ' ')} {human(k, v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return str(len(value))
    if isinstance(value, int | float) and key.endswith("bytes"):
        return _size(float(value))
    if isinstance(value, int | float) and key.endswith("seconds"):
        return "unknown" if value < 0 else f"{value:.1f} s"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def echo_mapping(
    data: dict[str, Any], as_json: bool, width: int, skip: tuple[str, ...] = ()
) -> None:
    """Print a status mapping: stable JSON, or one right-aligned `key: value` per line."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in data.items():
        if key not in skip:
            click.echo(f"{key.replace('_', ' '):>{width}}: {human(key, value)}")
