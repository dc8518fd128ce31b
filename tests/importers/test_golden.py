"""Golden files: one small conversation per source, pinned to its exact markdown.

`imported_at` comes from a fixed clock and the data folder's path (tests/fixtures or
../shared/data, same layout) is written as `<DATA>`.
Regenerate with `UPDATE_GOLDEN=1 pytest tests/importers/test_golden.py` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.data import SHARED_DATA
from vault import Vault
from vault.importers import run_import
from vault.importers.runner import Source

from .conftest import CHATGPT, DATA, SPOTTER, YALEMAN, clock

GOLDEN = Path(__file__).parent / "golden"
CASES = [
    pytest.param("claude-code", "claude-code", SPOTTER / "short.jsonl", id="claude-code"),
    pytest.param("claude-ai", "claude-ai", YALEMAN, id="claude-ai", marks=pytest.mark.shared_data),
    pytest.param(
        "chatgpt", "chatgpt", CHATGPT / "danny-avila-LibreChat" / "chatgpt-tree.json", id="chatgpt"
    ),
]


@pytest.mark.parametrize(("name", "source", "path"), CASES)
def test_golden(tmp_path: Path, name: str, source: Source, path: Path) -> None:
    vault = Vault(tmp_path / "project")
    run_import(vault, source, [path], clock=clock)
    got = {
        p.read_text(encoding="utf-8").split("\nid: ", 1)[1].split("\n", 1)[0]: p.read_text(
            encoding="utf-8"
        )
        .replace(str(DATA), "<DATA>")
        .replace(str(SHARED_DATA), "<DATA>")
        for p in vault.session_paths()
    }
    folder = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.md"):
            old.unlink()
        for sid, text in got.items():
            (folder / f"{sid}.md").write_text(text, encoding="utf-8")
    expected = {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md"))}
    assert sorted(got) == sorted(expected)
    for sid, text in got.items():
        assert text == expected[sid], sid
