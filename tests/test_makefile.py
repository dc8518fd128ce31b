"""The Makefile as the README uses it: `make run` serves only a project given by ROOT and
writes nothing but protocol on stdout; `make install-user` puts `codearchitect` on a PATH
folder that can be chosen (so no test touches the real home)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.stdio_rpc import exchange, user_env

REPO = Path(__file__).resolve().parents[1]


# The install is `make test`'s first step; a test does not redo it (`-o`: take it as done,
# even when a rebase made pyproject.toml newer than the stamp).
MAKE = ["make", "-o", ".venv/.installed"]


@pytest.fixture(autouse=True)
def _installed() -> None:
    if not (REPO / ".venv" / "bin" / "codearchitect").exists():
        pytest.fail("run `make install` first: these tests run make in the checkout")


def make(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAKE, *args],
        cwd=cwd,
        env=user_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_run_without_root_refuses_with_a_one_line_hint() -> None:
    had_vault = (REPO / ".codearchitect").exists()
    done = make("run")
    assert done.returncode == 2 and done.stdout == ""
    # make's own "make: *** … Error 2" (make[1] when run under make) follows the hint
    hint = [x for x in done.stderr.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\*", x)]
    assert hint == ["make run: say which project to serve: make run ROOT=/path/to/your/project"]
    assert (REPO / ".codearchitect").exists() == had_vault


@pytest.mark.parametrize("root", [".", str(REPO), str(REPO) + "/"])
def test_run_refuses_to_serve_the_checkout_itself(root: str) -> None:
    had_vault = (REPO / ".codearchitect").exists()
    done = make("run", f"ROOT={root}")
    assert done.returncode == 2 and done.stdout == ""
    assert "ROOT is this checkout" in done.stderr
    assert (REPO / ".codearchitect").exists() == had_vault


@pytest.mark.parametrize("how", ["in the checkout", "make -s -C from the project"])
def test_run_writes_only_protocol_on_stdout(vault_root: Path, how: str) -> None:
    if how == "in the checkout":
        command, cwd = [*MAKE, "run", f"ROOT={vault_root}"], REPO
    else:
        command = [*MAKE, "-s", "-C", str(REPO), "run", f"ROOT={vault_root}"]
        cwd = vault_root
    done = exchange(command, [("tools/list", {})], cwd=cwd, env=user_env())
    assert done.returncode == 0, done.stderr
    assert done.protocol_only(), done.stdout_lines
    assert done.responses[0]["result"]["serverInfo"]["name"]
    assert any(t["name"] == "store_session" for t in done.responses[1]["result"]["tools"])
    assert (vault_root / ".codearchitect").is_dir()


def test_install_user_links_the_command_into_bindir(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    done = make("install-user", f"BINDIR={bindir}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    link = bindir / "codearchitect"
    assert link.resolve() == (REPO / ".venv" / "bin" / "codearchitect").resolve()
    assert f"{bindir} is not on your PATH" in done.stderr
    version = subprocess.run(
        [str(link), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version.returncode == 0 and "serve" in version.stdout
    again = make("install-user", f"BINDIR={bindir}")  # idempotent
    assert again.returncode == 0 and link.resolve() == (REPO / ".venv/bin/codearchitect").resolve()


def test_install_user_defaults_to_the_home_local_bin() -> None:
    home = Path(os.environ["HOME"])  # a private HOME (tests/conftest.py)
    assert str(home) != os.path.expanduser("~root") and "pytest" in str(home)
    done = make("install-user")
    assert done.returncode == 0, done.stderr
    assert (home / ".local" / "bin" / "codearchitect").resolve() == (
        REPO / ".venv" / "bin" / "codearchitect"
    ).resolve()
