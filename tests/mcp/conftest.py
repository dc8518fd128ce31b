from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client

from mcp_server.app import App
from mcp_server.server import build_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def app(vault_root: Path) -> AsyncIterator[App]:
    application = App(vault_root)
    yield application
    application.close()


@pytest.fixture
async def client(app: App) -> AsyncIterator[Client]:
    async with Client(build_server(app)) as c:
        yield c
