"""How the tests start a real `codearchitect serve` process: the command and its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mcp import StdioServerParameters

__all__ = ("EXE", "run_cli", "server_env", "server_params")

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


def run_cli(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`codearchitect ARGS --root ROOT` as a real process, in a server's environment; a
    command that hangs fails the test through `timeout`."""
    return subprocess.run(
        [str(EXE), *args, "--root", str(root)],
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=timeout,
    )
