"""One running platform for the end-to-end suite (every service and the gateway).

Tests share it the way agencies share production: each test creates an agency of its
own. Drills that take a server down (the broker) start a platform of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from halcyon.shared.testing.servers import Servers

from tests.e2e.platform import Gateway, Platform, run_dir


@pytest.fixture(scope="session")
def e2e_platform(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(servers, run_dir(tmp_path_factory, "platform"))
    try:
        yield running.start()
    finally:
        running.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def e2e_gateway(e2e_platform: Platform) -> AsyncIterator[Gateway]:
    gw = Gateway(e2e_platform)
    yield gw
    await gw.aclose()
