"""Issue 19, item 5: a list of bad inputs over every endpoint of every service, sent to
each service directly and through the gateway: each is a 4xx problem and nothing is
written (every collection of every service's database counts the same after).

Bad inputs: NUL and other control characters in a body string and in the query, an
overlong string, deep nesting, huge and non-finite numbers, an oversized body (counted
while it streams, with and without Content-Length) and malformed pagination cursors.
"""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.e2e.platform import SERVICES, Person
from tests.platform.two_agencies import World, person_with_every_role

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

_WRITES = {"post", "put", "patch", "delete"}
_BIG = 2 * 1_048_576 + 1


def _json(text: str) -> tuple[bytes, dict[str, str]]:
    return text.encode(), {"content-type": "application/json"}


@dataclass(frozen=True)
class BadBody:
    name: str
    make: Callable[[], tuple[bytes, dict[str, str]]]


BAD_BODIES = [
    BadBody("NUL in a string", lambda: _json('{"name": "Ro\\u0000bin", "site_id": "x\\u0000"}')),
    BadBody("escape sequence", lambda: _json('{"name": "\\u001b[31mred", "reason": "a\\u0007"}')),
    BadBody("lone surrogate", lambda: _json('{"name": "\\ud800"}')),
    BadBody("overlong string", lambda: _json('{"name": "' + "x" * 100_001 + '"}')),
    BadBody("deep nesting", lambda: _json('{"a": ' * 64 + "1" + "}" * 64)),
    BadBody("very deep nesting", lambda: _json("[" * 50_000 + "]" * 50_000)),
    BadBody("huge integer", lambda: _json('{"quantity": ' + "9" * 400 + "}")),
    BadBody("huge float", lambda: _json('{"amount": 1e400}')),
    BadBody("NaN", lambda: _json('{"amount": NaN}')),
    BadBody("operator key", lambda: _json('{"$where": "1"}')),
    BadBody("not JSON", lambda: _json('{"name": ')),
    BadBody("oversized", lambda: _json('{"name": "' + "x" * _BIG + '"}')),
]
BAD_CURSORS = [
    "not-base64!",
    base64.urlsafe_b64encode(b"{broken").decode(),
    base64.urlsafe_b64encode(b'{"$gt": ""}').decode(),
    base64.urlsafe_b64encode(b"[1]").decode(),
    base64.urlsafe_b64encode(b"1e999").decode(),
    "A" * 511,
]


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                out.append((method.upper(), path, operation))
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: f"id-{uuid.uuid4().hex[:8]}", path)


async def _snapshot(world: World) -> dict[str, int]:
    counts: dict[str, int] = {}
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(world.platform.servers.mongo_url)
    try:
        for service in SERVICES:
            database = client[world.platform.database(service)]
            for name in await database.list_collection_names():
                if name == "processed_events":
                    continue
                counts[f"{service}.{name}"] = await database[name].count_documents({})
    finally:
        await client.close()
    return counts


async def _streamed(size: int) -> AsyncIterator[bytes]:
    chunk = b" " * 65_536
    sent = 0
    while sent < size:
        yield chunk
        sent += len(chunk)


@pytest.mark.timeout(1800)
async def test_bad_input_over_every_endpoint_is_a_4xx_problem_and_writes_nothing(
    world: World,
) -> None:
    w = world
    eve: Person = await person_with_every_role(w.gw, w.a)
    await asyncio.sleep(3)  # let the set-up's events and audit entries land first
    before = await _snapshot(w)
    tally: Counter[str] = Counter()
    failures: list[str] = []

    async def send(
        http: httpx.AsyncClient, where: str, method: str, path: str, **kwargs: Any
    ) -> None:
        headers = {**eve.headers, **kwargs.pop("headers", {})}
        try:
            response = await http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:  # a service that hangs up mid-body is not a problem
            failures.append(f"{where} {method} {path}: {type(exc).__name__}")
            return
        tally[str(response.status_code)] += 1
        problem = response.headers.get("content-type", "").startswith("application/problem+json")
        if not 400 <= response.status_code < 500 or not problem:
            answer = f"{response.status_code} {response.text[:200]}"
            failures.append(f"{where} {method} {path}: {answer}")

    for service in SERVICES:
        direct = w.platform.processes[service].url
        async with httpx.AsyncClient(base_url=direct, timeout=60) as inside:
            document = (await inside.get("/openapi.json")).json()
        for base, where in ((direct, f"{service} direct"), (w.platform.gateway.url, "gateway")):
            prefix = "" if base == direct else f"/api/{service}"
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                for i, (method, path, operation) in enumerate(_operations(document)):
                    if path in {"/healthz", "/readyz", "/openapi.json"}:
                        continue
                    target = prefix + _concrete(path)
                    await send(http, where, method, target, params={"q": "a\x00b"})
                    names = {p.get("name") for p in operation.get("parameters", [])}
                    if method == "GET" and "cursor" in names:
                        for cursor in BAD_CURSORS[i % 3 :: 3]:
                            await send(http, where, method, target, params={"cursor": cursor})
                    if method.lower() not in _WRITES:
                        continue
                    # NUL on every write; three more bad bodies in turn, so every kind
                    # hits every service many times (one shared guard) on 2 busy cores.
                    chosen = [
                        BAD_BODIES[0],
                        *(BAD_BODIES[(i + k) % len(BAD_BODIES)] for k in (1, 2, 3)),
                    ]
                    for bad in dict.fromkeys(chosen):
                        content, headers = bad.make()
                        await send(http, where, method, target, content=content, headers=headers)
                    if i % 4 == 0:
                        await send(
                            http,
                            where,
                            method,
                            target,
                            content=_streamed(_BIG),
                            headers={"content-type": "application/json"},
                        )
    await asyncio.sleep(2)
    after = await _snapshot(w)
    changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
    print(f"bad-input requests by status: {dict(sorted(tally.items()))}")
    assert failures == [], f"{len(failures)} bad answers:\n" + "\n".join(failures[:60])
    assert changed == {}, f"written: {changed}"
