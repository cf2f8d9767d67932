"""Fault drills on the running platform: billing killed (SIGKILL) while encounter-signed
events flow, and the Kafka broker stopped mid-run. Each drill has its own platform."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from halcyon.shared.mongo import OUTBOX_PENDING_FIELD, connect
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers

from tests.e2e.journey import Course, iso, ok, register_client, set_up_agency, until_ok
from tests.e2e.platform import Gateway, Platform, run_dir

pytestmark = pytest.mark.integration

SHARED_KAFKA_PORT = "49092"  # the engineers' shared broker: never stopped by a drill


def psychotherapy_note(course: Course, started_at: datetime) -> dict[str, Any]:
    return {
        "kind": "psychotherapy",
        "site_id": course.site_id,
        "template_id": "builtin:progress-soap",
        "started_at": iso(started_at),
        "ended_at": iso(started_at + timedelta(minutes=55)),
        "clinicians": [{"staff_id": course.staff.lead.id, "role": "therapist"}],
        "diagnoses": ["F43.10"],
        "psychotherapy_minutes": 55,
        "content": {
            "subjective": "sleeping better",
            "objective": "calm",
            "assessment": "improving",
            "plan": "continue weekly",
        },
    }


async def sign_session(gw: Gateway, course: Course, started_at: datetime) -> str:
    note = ok(
        await gw.post(
            f"/api/clinical/clients/{course.client_id}/notes",
            course.staff.lead,
            json=psychotherapy_note(course, started_at),
        ),
        201,
    )
    signed = ok(await gw.post(f"/api/clinical/notes/{note['id']}/sign", course.staff.lead, json={}))
    assert signed["status"] == "signed"
    return str(note["id"])


async def charges_by_encounter(gw: Gateway, course: Course) -> dict[str, list[dict[str, Any]]]:
    response = await gw.get(
        f"/api/billing/clients/{course.client_id}/charges",
        course.staff.biller,
        params={"limit": 200},
    )
    assert response.status_code == 200, response.text
    found: dict[str, list[dict[str, Any]]] = {}
    for charge in response.json()["items"]:
        found.setdefault(charge["encounter_id"], []).append(charge)
    return found


@pytest.fixture
def platform_for(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    started: list[Platform] = []

    def start(name: str, services: tuple[str, ...]) -> Platform:
        platform = Platform(servers, run_dir(tmp_path_factory, name)).start(services)
        started.append(platform)
        return platform

    yield start
    for platform in started:
        platform.stop()


@pytest.mark.timeout(600)
async def test_billing_killed_while_encounters_flow_loses_and_duplicates_no_charge(
    e2e_platform: Platform,
) -> None:
    platform = e2e_platform
    gw = Gateway(platform)
    try:
        course = await set_up_agency(gw, "Billing Drill Agency")
        course.client_id = await register_client(gw, course)
        await until_ok(gw, f"/api/billing/clients/{course.client_id}/charges", course.staff.biller)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
        sessions = [start + timedelta(days=n) for n in range(9)]

        # Three sessions signed and billed before anything goes wrong.
        before = [await sign_session(gw, course, at) for at in sessions[:3]]
        await eventually(
            lambda: _billed(gw, course, before), within=60, interval=0.5, message="first charges"
        )
        # Three more signed back to back; billing dies (SIGKILL) while they are in flight.
        during = [await sign_session(gw, course, at) for at in sessions[3:6]]
        platform.processes["billing"].kill()
        # Clinicians keep signing while billing is down: clinical is not affected.
        down = [await sign_session(gw, course, at) for at in sessions[6:9]]
        platform.restart("billing")

        everything = before + during + down
        found = await eventually(
            lambda: _billed(gw, course, everything),
            within=120,
            interval=0.5,
            message="a charge for every signed session after billing's restart",
        )
        # Exactly one charge per session: redelivered events were not billed twice.
        assert sorted(found) == sorted(everything)
        assert {enc: [c["cpt"] for c in charges] for enc, charges in found.items()} == {
            enc: ["90837"] for enc in everything
        }
        # One more session after the restart: once it is billed, every earlier event (same
        # client, same partition, in order) has certainly been handled — still no extra.
        last = await sign_session(gw, course, start + timedelta(days=10))
        final = await eventually(
            lambda: _billed(gw, course, [*everything, last]),
            within=60,
            interval=0.5,
            message="the charge of the session after the restart",
        )
        assert sum(len(c) for c in final.values()) == len(everything) + 1
    finally:
        await gw.aclose()


async def _billed(
    gw: Gateway, course: Course, encounters: list[str]
) -> dict[str, list[dict[str, Any]]] | None:
    found = await charges_by_encounter(gw, course)
    return found if set(encounters) <= set(found) else None


def _launcher(servers: Servers, command: str) -> None:
    assert servers.launcher is not None
    env = dict(os.environ)
    # The drill must never touch the shared servers other engineers use.
    assert env.get("HALCYON_KAFKA_PORT", "") != SHARED_KAFKA_PORT, "refusing: shared broker"
    subprocess.run(
        ["bash", str(servers.launcher), command], check=True, capture_output=True, env=env
    )


@pytest.mark.timeout(600)
async def test_broker_stopped_mid_run_loses_nothing_accepted_and_everyone_catches_up(
    servers: Servers, platform_for: Any
) -> None:
    if servers.launcher is None:
        pytest.skip("needs deploy/local/servers.sh to stop and start the broker")
    if servers.kafka_bootstrap.endswith(f":{SHARED_KAFKA_PORT}"):
        pytest.skip("never stops the shared development servers")
    platform = platform_for("broker-stop", ("identity", "clinical", "scheduling", "billing"))
    gw = Gateway(platform)
    try:
        course = await set_up_agency(gw)
        course.client_id = await register_client(gw, course, "Before")
        await until_ok(gw, f"/api/scheduling/clients/{course.client_id}", course.staff.front_desk)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)

        _launcher(servers, "stop-kafka")
        try:
            # Requests keep being accepted while the broker is down: the events wait in
            # the services' outboxes (same write as the change).
            accepted = [await register_client(gw, course, name) for name in ("Ida", "Jo", "Kit")]
            course.client_id = accepted[0]
            notes = [await sign_session(gw, course, start + timedelta(days=n)) for n in range(2)]
            assert await _pending(servers, platform, "clinical") > 0
        finally:
            _launcher(servers, "start-kafka")

        # Outboxes drain (clinical's events, and every service's access-audit events) ...
        async def drained() -> bool:
            for service in ("clinical", "identity", "scheduling", "billing"):
                if await _pending(servers, platform, service):
                    return False
            return True

        await eventually(drained, within=120, interval=1, message="every outbox drained")
        # ... and consumers catch up: every client reached scheduling and billing,
        # every signed session was billed exactly once.
        for client_id in accepted:
            await until_ok(gw, f"/api/scheduling/clients/{client_id}", course.staff.front_desk)
            await until_ok(gw, f"/api/billing/clients/{client_id}/charges", course.staff.biller)
        found = await eventually(
            lambda: _billed(gw, course, notes), within=120, interval=1, message="charges"
        )
        assert {enc: len(c) for enc, c in found.items()} == {enc: 1 for enc in notes}
    finally:
        await gw.aclose()


async def _pending(servers: Servers, platform: Platform, service: str) -> int:
    client = connect(servers.mongo_url)
    try:
        database = client[platform.database(service)]
        total = 0
        for name in await database.list_collection_names():
            total += await database[name].count_documents({OUTBOX_PENDING_FIELD: True})
        return total
    finally:
        await client.close()
