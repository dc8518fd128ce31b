"""The `codearchitect` entry point.

Two commands are started without loading the command line (click, the vault, every
command's module): `serve`, whose start-up to the answered `tools/list` has a budget of
1 s, and `capture claude-code`, the Claude Code hook, run once per hook event with a
budget of 300 ms for the whole process (../shared/DESIGN.md, docs/benchmarks.md). Any
other arguments, and any form of those two this module does not read itself (`--help`,
an unknown option, a `--root` that is a file), go to the click group in `commands.py`,
which also holds them, so they behave the same either way.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

__all__ = ("main",)  # and `cli`, the click group (commands.py), loaded when asked for


def main() -> None:
    args = sys.argv[1:]
    if args == ["capture", "claude-code"]:
        from vault.importers.capture import capture_claude_code

        try:
            text = sys.stdin.read()
        except Exception:
            text = ""
        sys.exit(capture_claude_code(text))
    root = serve_root(args)
    if root is not None:
        from .serve import run_server

        run_server(root or None)
        return
    from .commands import cli

    cli(prog_name="codearchitect")


def serve_root(args: list[str]) -> str | None:
    """For `serve`, `serve --root DIR` and `serve --root=DIR`: DIR ("" without one);
    None for anything else, which click reads (and refuses with its own message)."""
    if not args or args[0] != "serve":
        return None
    rest = args[1:]
    if not rest:
        return ""
    if len(rest) == 2 and rest[0] == "--root":
        root = rest[1]
    elif len(rest) == 1 and rest[0].startswith("--root="):
        root = rest[0].removeprefix("--root=")
    else:
        return None
    if not root or root.startswith("-") or os.path.isfile(root):
        return None  # click's own reading and errors
    return root


def __getattr__(name: str) -> click.Group:
    if name == "cli":
        from .commands import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
