"""Outgoing HTTP: httpcore learns the async library without an import search each time."""

from __future__ import annotations

import importlib.util
import sys

import httpx
from halcyon.shared.http.client import remember_missing_sniffio
from httpcore._synchronization import current_async_library


async def test_httpcore_still_runs_on_asyncio_without_searching_for_sniffio() -> None:
    remember_missing_sniffio()
    # Either sniffio is installed (nothing to remember) or its absence is on record, so
    # ``import sniffio`` fails at once instead of searching sys.path on every request.
    assert sys.modules.get("sniffio", ...) is None or importlib.util.find_spec("sniffio")
    assert current_async_library() == "asyncio"
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    async with httpx.AsyncClient(transport=transport) as http:
        assert (await http.get("http://upstream/x")).json() == {"ok": True}
