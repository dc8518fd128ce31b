"""`codearchitect project`: names for projects that tools can pass as `project`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_common import errors, json_option
from .projects import Registry

__all__ = ("project",)


@click.group()
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
