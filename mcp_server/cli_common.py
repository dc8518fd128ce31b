"""What every `codearchitect` command shares: options, error reporting, opening the index."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from vault import Vault, VaultError, find_project_root

if TYPE_CHECKING:
    from rich.console import Console

    from indexer import Indexer

F = TypeVar("F", bound=Callable[..., Any])

__all__ = (
    "echo_mapping",
    "errors",
    "filter_options",
    "json_option",
    "open_index",
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


def rich_console(err: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=err, highlight=False)


def echo_mapping(
    data: dict[str, Any], as_json: bool, width: int, skip: tuple[str, ...] = ()
) -> None:
    """Print a status mapping: stable JSON, or one right-aligned `key: value` per line."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in data.items():
        if key not in skip:
            click.echo(f"{key:>{width}}: {value}")
