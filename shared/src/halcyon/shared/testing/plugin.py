"""pytest fixtures shared by every suite (loaded with ``-p halcyon.shared.testing.plugin``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import pytest_asyncio
from halcyon.shared.mongo import Document, connect
from halcyon.shared.testing.servers import Servers, ensure_servers, stop_containers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

T = TypeVar("T")


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """Real Kafka + MongoDB-wire server for the whole session."""
    found = ensure_servers()
    yield found
    stop_containers()


@pytest.fixture
def topic_prefix() -> str:
    """A fresh topic namespace per test: never sees another test's events."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest_asyncio.fixture(scope="session")
async def mongo_client(servers: Servers) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = connect(servers.mongo_url)
    yield client
    await client.close()


@pytest.fixture(scope="session")
def token_issuer() -> TestTokenIssuer:
    return TestTokenIssuer()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    within: float = 30.0,
    interval: float = 0.2,
    message: str = "condition not met",
) -> T:
    """Poll an asynchronous outcome until it is truthy (asynchronous systems settle later)."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{message} within {within}s (last value: {last!r})")
