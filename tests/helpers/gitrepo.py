"""Real git clones for tests: a private global config (never the user's), an author set in
each repo, and the session merge driver set up by `codearchitect git setup`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcp_server.cli import cli

__all__ = ("clone", "git", "isolate_git", "new_repo", "run_cli", "setup_driver")


def isolate_git(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """git reads no global or system config but an empty file in `home`."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(key, raising=False)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{done.stdout}{done.stderr}")
    return done


def _author(repo: Path, name: str) -> None:
    git(repo, "config", "user.name", name)
    git(repo, "config", "user.email", f"{name}@example.com")
    git(repo, "config", "core.hooksPath", "/dev/null")


def new_repo(path: Path, name: str = "a") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    _author(path, name)
    return path


def clone(source: Path, path: Path, name: str) -> Path:
    git(path.parent, "clone", "-q", str(source), str(path))
    _author(path, name)
    return path


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def setup_driver(repo: Path) -> None:
    code, out = run_cli("git", "setup", "--root", str(repo))
    assert code == 0, out
