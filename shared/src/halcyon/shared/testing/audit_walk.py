"""Walk every GET route of a service and prove each read of client data is audited
(issue 18, item 10). Routes come from the service's own wiring, so a new route is in
the walk the day it is added: the test names it until it is given a call or declared
free of client data."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi.routing import APIRoute
from halcyon.shared.service import ServiceWiring
from halcyon.shared.testing.plugin import eventually


def get_routes(wiring: ServiceWiring[Any, Any]) -> set[str]:
    """Every GET path the service's routers serve."""
    return {
        route.path
        for router in wiring.routers
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or set())
    }


@dataclass
class Walk:
    """The requests made, each with its own request id, and what they returned."""

    calls: dict[str, tuple[str, httpx.Response]]  # request id -> (route, response)

    def reads_of(self, client_ids: Iterable[str]) -> dict[str, str]:
        """Request id -> route, for each 200 about a client: the route names one in its
        path, or the body carries a client's id (a search, a record that links one)."""
        ids = list(client_ids)
        return {
            rid: route
            for rid, (route, response) in self.calls.items()
            if response.status_code == 200
            and (
                any(c in response.text for c in ids)
                or any(c in str(response.request.url) for c in ids)
            )
        }

    def reads(self) -> dict[str, str]:
        """Request id -> route of every call that answered 200 (each walked route is a
        read of client data: routes without any are declared, not walked)."""
        return {rid: route for rid, (route, response) in self.calls.items() if response.is_success}

    def failures(self) -> dict[str, str]:
        """Route -> status and body of each call that did not answer 200."""
        return {
            route: f"{response.status_code} {response.text[:200]}"
            for route, response in self.calls.values()
            if response.status_code != 200
        }


def uncovered(
    routes: set[str], calls: Mapping[str, Any], without_client_data: Iterable[str]
) -> list[str]:
    """Routes the walk neither calls nor declares free of client data."""
    return sorted(routes - set(calls) - set(without_client_data))


async def walk(http: httpx.AsyncClient, calls: Mapping[str, tuple[str, dict[str, str]]]) -> Walk:
    """GET each route's concrete URL with its headers and a fresh X-Request-ID."""
    made: dict[str, tuple[str, httpx.Response]] = {}
    for route, (url, headers) in calls.items():
        rid = uuid.uuid4().hex
        response = await http.get(url, headers={**headers, "x-request-id": rid})
        made[rid] = (route, response)
    return Walk(made)


async def audited_request_ids(
    bootstrap: str, topic: str, wanted: Iterable[str], within: float = 60.0
) -> set[str]:
    """The wanted request ids found on the audit topic (read from the start)."""
    wanted_ids = set(wanted)
    found: set[str] = set()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"audit-walk-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:

        async def all_seen() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    data = json.loads(record.value).get("data", {})
                    if data.get("request_id") in wanted_ids and data.get("client_id"):
                        found.add(data["request_id"])
            return found >= wanted_ids

        with contextlib.suppress(AssertionError):  # the caller names what is missing
            await eventually(all_seen, within=within, interval=0, message="audits")
    finally:
        await consumer.stop()
    return found
