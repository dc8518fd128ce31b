"""The docs match the code: every error code is documented, and every raised code is in the table."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import vault.errors
from mcp_server.errors import ERROR_CODES, WARNING_CODES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def documented(table_doc: str) -> set[str]:
    return set(re.findall(r"^\| `([A-Z_]+)` \|", table_doc, re.MULTILINE))


def test_every_error_code_is_documented() -> None:
    doc = (DOCS / "errors.md").read_text()
    assert set(ERROR_CODES) | set(WARNING_CODES) == documented(doc)


def test_every_vault_error_class_has_a_code_in_the_table() -> None:
    classes = [
        c
        for _, c in inspect.getmembers(vault.errors, inspect.isclass)
        if issubclass(c, vault.errors.VaultError)
    ]
    assert len(classes) > 10
    for cls in classes:
        assert cls.code in ERROR_CODES, cls


def test_every_warning_code_the_vault_emits_is_documented() -> None:
    source = "".join(p.read_text() for p in (Path(vault.errors.__file__).parent).glob("*.py"))
    emitted = set(re.findall(r'VaultWarning\(\s*"([A-Z_]+)"', source))
    assert emitted
    assert emitted <= set(WARNING_CODES)
