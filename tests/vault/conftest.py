from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from vault import Vault


@pytest.fixture
def vault(vault_root: Path) -> Vault:
    return Vault(vault_root)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    moment = datetime(2025, 1, 15, 14, 30, 22, 123000, tzinfo=UTC)
    monkeypatch.setattr("vault.vault.utc_now", lambda: moment)
    return moment
