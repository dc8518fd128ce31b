"""How the tests start a real `codearchitect serve` process: the command and its environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp import StdioServerParameters

__all__ = ("EXE", "server_env", "server_params")

EXE = Path(sys.executable).parent / "codearchitect"

# What a server process inherits from the test: the test's private HOME and XDG folders,
# and CODEARCHITECT_SEMANTIC (the suite's "semantic off unless a test turns it on", see
# tests/conftest.py); nothing else.
_INHERITED = (
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "LANG",
    "TMPDIR",
    "CODEARCHITECT_SEMANTIC",
)


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server process: the test's private HOME, nothing else inherited."""
    env = {k: v for k, v in os.environ.items() if k in _INHERITED}
    env.update(extra)
    return env


def server_params(root: Path, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=str(EXE), args=["serve", "--root", str(root)], env=server_env(**env)
    )
