"""`codearchitect git setup` offers the pre-commit secret check: installs it, chains it into
a shell hook, never overwrites another hook; the installed hook stops a real commit."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mcp_server.cli import cli
from vault import Vault
from vault.redaction.hook import MARK

from .conftest import git
from .planted import CASES

AWS = next(c for c in CASES if c.name == "env dump: AWS")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _hook(clone: Path) -> Path:
    return clone / ".git" / "hooks" / "pre-commit"


def _leak(clone: Path) -> None:
    config = clone / ".codearchitect" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('{"redaction": {"enabled": false}}')
    Vault(clone).append_message("leaky", "tool", AWS.text)
    config.unlink()
    git(clone, "add", "-A")


def test_setup_installs_the_hook_and_it_stops_a_commit(clone: Path) -> None:
    code, out = run("git", "setup", "--hook", "--root", str(clone))
    assert code == 0 and "pre-commit: wrote" in out
    hook = _hook(clone)
    assert MARK in hook.read_text() and hook.stat().st_mode & 0o111
    _leak(clone)
    done = git(clone, "commit", "-q", "-m", "x", check=False)
    assert done.returncode == 1 and "aws-access-key" in done.stderr
    assert git(clone, "rev-list", "--all").stdout == ""
    code, out = run("git", "setup", "--root", str(clone))
    assert code == 0 and "the secret check is installed" in out
    assert hook.read_text().count(MARK) == 1


def test_a_shell_hook_keeps_its_own_checks_after_ours(clone: Path) -> None:
    hook = _hook(clone)
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text('#!/bin/sh\necho theirs >> "$(git rev-parse --show-toplevel)/ran"\n')
    hook.chmod(0o755)
    code, out = run("git", "setup", "--hook", "--root", str(clone))
    assert code == 0 and "added the secret check at the top of the existing hook" in out
    text = hook.read_text()
    assert text.startswith("#!/bin/sh\n" + MARK) and text.endswith('/ran"\n')
    Vault(clone).append_message("s", "user", "clean words")
    git(clone, "add", "-A")
    assert git(clone, "commit", "-q", "-m", "ok", check=False).returncode == 0
    assert (clone / "ran").read_text() == "theirs\n"
    _leak(clone)
    assert git(clone, "commit", "-q", "-m", "leak", check=False).returncode == 1


def test_another_kind_of_hook_is_left_alone_with_the_line_to_add(clone: Path) -> None:
    hook = _hook(clone)
    hook.parent.mkdir(parents=True, exist_ok=True)
    original = "#!/usr/bin/env python3\nprint('mine')\n"
    hook.write_text(original)
    code, out = run("git", "setup", "--hook", "--root", str(clone))
    assert code == 0
    assert "is not a shell script; it was left alone" in out and "scan --staged || exit 1" in out
    assert hook.read_text() == original


def test_without_a_terminal_setup_only_says_how(clone: Path) -> None:
    code, out = run("git", "setup", "--root", str(clone))
    assert code == 0 and "pre-commit: not installed; `codearchitect git setup --hook`" in out
    assert not _hook(clone).exists()
    code, out = run("git", "setup", "--no-hook", "--root", str(clone))
    assert code == 0 and "pre-commit" not in out and not _hook(clone).exists()
