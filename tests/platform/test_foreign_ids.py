"""Issue 19, item 4: every id a caller names is resolved in the caller's agency before
anything is written. Agency A's admin (agency-wide, so no site check stops it first)
names agency B's ids and made-up ids; each write is refused with a 404 (id in the path)
or 422 (id in the body) problem, and nothing of A changed.

Real servers: the whole platform through the gateway (tests/platform/two_agencies.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from halcyon.shared.testing.plugin import eventually

from tests.platform.two_agencies import World

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

WEEK = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)]


@dataclass(frozen=True)
class Write:
    name: str
    method: str
    path: Callable[[World, str], str]
    body: Callable[[World, str], dict[str, Any] | None]
    status: int
    # A read that shows the write did not happen: (path, expected status).
    unchanged: Callable[[World, str], tuple[str, int]] | None = None


def _client(w: World, foreign: str) -> dict[str, Any]:
    return {
        "given_name": "Orphan",
        "family_name": "Nobody",
        "date_of_birth": "1990-01-01",
        "home_site_id": foreign,
    }


WRITES = [
    Write(
        "register a client at a site that is not ours",
        "POST",
        lambda w, f: "/api/clinical/clients",
        _client,
        422,
    ),
    Write(
        "move our client to a site that is not ours",
        "PATCH",
        lambda w, f: f"/api/clinical/clients/{w.a.client_id}",
        lambda w, f: {"home_site_id": f},
        422,
    ),
    Write(
        "set availability at a site that is not ours",
        "PUT",
        lambda w, f: f"/api/scheduling/clinicians/{w.a.therapist.id}/availability",
        lambda w, f: {"site_id": f, "weekly": WEEK},
        422,
        lambda w, f: (
            f"/api/scheduling/clinicians/{w.a.therapist.id}/availability?site_id={f}",
            404,
        ),
    ),
    Write(
        "reprice the held charges of a site that is not ours",
        "POST",
        lambda w, f: "/api/billing/charges/reprice",
        lambda w, f: {"site_id": f},
        422,
    ),
]

STAFF_WRITES = [
    Write(
        "set the availability of a clinician who is not ours",
        "PUT",
        lambda w, f: f"/api/scheduling/clinicians/{f}/availability",
        lambda w, f: {"site_id": w.a.site_id, "weekly": WEEK},
        404,
        lambda w, f: (
            f"/api/scheduling/clinicians/{f}/availability?site_id={w.a.site_id}",
            404,
        ),
    ),
    Write(
        "give time off to a clinician who is not ours",
        "POST",
        lambda w, f: f"/api/scheduling/clinicians/{f}/time-off",
        lambda w, f: {
            "starts_at": "2030-01-01T09:00:00+00:00",
            "ends_at": "2030-01-01T17:00:00+00:00",
        },
        404,
    ),
]


async def _our_clients(w: World) -> list[dict[str, Any]]:
    response = await w.gw.get("/api/clinical/clients?limit=200", w.a.admin)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


@pytest.mark.timeout(900)
async def test_another_agencys_ids_and_made_up_ids_are_refused_and_nothing_is_written(
    world: World,
) -> None:
    w = world
    before = await _our_clients(w)
    site_ids = {"agency B's site": w.b.site_id, "a made-up site": str(uuid.uuid4())}
    staff_ids = {"agency B's therapist": w.b.therapist.id, "a made-up id": str(uuid.uuid4())}
    cases = [(write, label, f) for write in WRITES for label, f in site_ids.items()]
    cases += [(write, label, f) for write in STAFF_WRITES for label, f in staff_ids.items()]
    failures = []
    for write, label, foreign in cases:
        response = await w.gw.call(
            write.method, write.path(w, foreign), w.a.admin, json=write.body(w, foreign)
        )
        problem = response.headers.get("content-type") == "application/problem+json"
        if response.status_code != write.status or not problem:
            failures.append(f"{write.name} ({label}): {response.status_code} {response.text}")
            continue
        if write.unchanged is not None:
            path, status = write.unchanged(w, foreign)
            seen = await w.gw.get(path, w.a.admin)
            if seen.status_code != status:
                failures.append(f"{write.name} ({label}) was written: {seen.text}")
    after = await _our_clients(w)
    assert failures == [], "\n".join(failures)
    assert after == before  # no orphaned client, our client not moved


async def test_reminders_of_an_appointment_that_is_not_ours_are_not_found(world: World) -> None:
    for appointment_id in (str(uuid.uuid4()), "appt-of-agency-b"):
        response = await world.gw.get(
            f"/api/notifications/appointments/{appointment_id}/reminders", world.a.admin
        )
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"


async def test_our_own_ids_are_accepted(world: World) -> None:
    """The same writes with A's own ids succeed: the refusals above are about the ids."""
    w = world
    response = await w.gw.put(
        f"/api/scheduling/clinicians/{w.a.therapist.id}/availability",
        w.a.admin,
        json={"site_id": w.a.site_id, "weekly": WEEK},
    )
    assert response.status_code == 200, response.text

    async def reprice() -> Any:
        # Billing learns of the site from identity's events; give its read model a moment.
        response = await w.gw.post(
            "/api/billing/charges/reprice", w.a.admin, json={"site_id": w.a.site_id}
        )
        return response if response.status_code == 200 else None

    await eventually(reprice, within=30, interval=0.5, message="billing knows our site")


async def test_break_the_glass_on_a_client_who_is_not_ours_grants_nothing(world: World) -> None:
    w = world
    for client_id in (w.b.client_id, str(uuid.uuid4())):
        response = await w.gw.post(
            "/api/identity/break-the-glass",
            w.a.therapist,
            json={"client_id": client_id, "reason": "client in crisis at the front desk"},
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "access_token" not in response.json()

    async def ours() -> Any:
        # Our own client, once identity has clinical's registration event: granted.
        response = await w.gw.post(
            "/api/identity/break-the-glass",
            w.a.therapist,
            json={"client_id": w.a.client_id, "reason": "client in crisis at the front desk"},
        )
        return response if response.status_code == 201 else None

    await eventually(ours, within=30, interval=0.5, message="identity knows our client")
