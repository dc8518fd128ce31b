"""Shared fixtures: every test runs with a private HOME and no inherited vault settings.

Markers (registered in pyproject.toml):

- `shared_data`: the test reads ../shared/data (large or unlicensed data that is not copied
  into tests/fixtures/). `make test` leaves these out, so a clone with nothing beside it
  passes; `make test-shared` runs them, and fails (never skips) when ../shared/data is
  missing. CI (.ci/run) runs both. A test that needs only a small, freely licensed file
  copies it into tests/fixtures/ (with its attribution in tests/fixtures/README.md) instead.
- `stress`: long reliability runs, `make stress` only.

Hypothesis runs deterministically by default (profile `deterministic`: examples derived from
each test's own code, no example database), so `make test` and CI never fail on an example
found at random that day; `make stress` (`--hypothesis-profile=random`) or
`HYPOTHESIS_PROFILE=random` explore new examples, and one that fails is kept as an
`@example` (or a replayed test) next to its property.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers.data import SHARED_DATA

settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("random", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("shared_data") and not SHARED_DATA.is_dir():
        pytest.fail(
            f"{item.nodeid} is marked shared_data but {SHARED_DATA} is missing: "
            "run `make test` (which leaves these out) or put shared/ beside the repo",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.delenv("CODEARCHITECT_ROOT", raising=False)
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    # Semantic search is on by default where the model is installed; tests that do not
    # need it should not pay for embedding: off unless a test turns it on (its project's
    # config.json, or by removing this variable to test the default).
    monkeypatch.setenv("CODEARCHITECT_SEMANTIC", "off")
    monkeypatch.delenv("CODEARCHITECT_EMBED_MODEL", raising=False)


@pytest.fixture
def vault_root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    return root
