"""Issue 18, item 7: a vitals alert during a session reaches the session's clinicians
first; unacknowledged within the protocol's minutes it escalates to on-call staff; an
acknowledgement stops the escalation and records who and when. A client in no session
is still reported to on-call staff at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from halcyon.shared.contracts.clinical import VitalsAlertRaised
from halcyon.shared.contracts.identity import StaffMemberChanged
from halcyon.shared.contracts.scheduling import AppointmentChanged, AppointmentClinician
from halcyon.shared.mongo import Document
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient
from test_notifications_end_to_end import (  # type: ignore[import-not-found]
    SITE,
    Bus,
    notifications_bus,
)

from tests.fixtures import StartService

pytestmark = pytest.mark.integration
__all__ = ["notifications_bus"]  # the fixture, used by name below


def alert(alert_id: str, client_id: str) -> VitalsAlertRaised:
    return VitalsAlertRaised(
        alert_id=alert_id,
        client_id=client_id,
        site_id=SITE,
        reading_id=f"r-{alert_id}",
        measured_at=datetime.now(UTC),
        breaches=["systolic 172 > 160 mmHg"],
    )


async def test_session_team_first_then_on_call_unless_acknowledged(
    start_service: StartService,
    notifications_bus: Bus,
    token_issuer: TestTokenIssuer,
    mongo_client: AsyncMongoClient[Document],
    unique: str,
) -> None:
    bus = notifications_bus
    tenant = bus.tenant
    service = start_service("notifications", HALCYON_NOTIFICATIONS_WORKER_POLL_SECONDS="0.2")
    db = mongo_client[f"t_{unique}_notifications"]
    http = httpx.AsyncClient(base_url=service.url, timeout=10.0)
    admin = token_issuer.headers(tenant_id=tenant, user_id="admin-1", roles=[("*", "agency_admin")])

    def as_(staff_id: str, role: str) -> dict[str, str]:
        return token_issuer.headers(tenant_id=tenant, user_id=staff_id, roles=[(SITE, role)])

    for staff_id, role, on_call in (
        ("ther-1", "therapist", []),
        ("ther-2", "therapist", []),
        ("oncall-1", "nurse", [SITE]),
    ):
        await bus.publish(
            StaffMemberChanged(
                staff_id=staff_id,
                display_name=staff_id,
                roles=[{"site": SITE, "role": role}],
                on_call_sites=on_call,
            )
        )
    start = datetime.now(UTC) - timedelta(hours=1)
    await bus.publish(
        AppointmentChanged(
            appointment_id="appt-1",
            change="started",
            status="started",
            client_id="client-1",
            site_id=SITE,
            site_timezone="America/Denver",
            appointment_type="mdma_dosing",
            protocol_id="mdma-ptsd",
            starts_at=start,
            ends_at=start + timedelta(hours=8),
            clinicians=[
                AppointmentClinician(staff_id="ther-1", role="therapist"),
                AppointmentClinician(staff_id="ther-2", role="therapist"),
            ],
            version=3,
        )
    )

    async def known() -> bool:
        staff = await db["staff"].count_documents({"tenant_id": tenant})
        session = await db["sessions"].count_documents({"tenant_id": tenant})
        return bool(staff == 3 and session == 1)

    await eventually(known, message="staff and the session known")

    async def inbox(who: dict[str, str]) -> list[dict[str, Any]]:
        response = await http.get("/inbox", headers=who)
        assert response.status_code == 200, response.text
        return [i for i in response.json()["items"] if i["kind"] == "vitals_alert"]

    ther1, ther2, oncall = (
        as_("ther-1", "therapist"),
        as_("ther-2", "therapist"),
        as_("oncall-1", "nurse"),
    )

    # Alert 1: the two therapists in the room hear; on-call staff do not (yet).
    await bus.publish(alert("alert-1", "client-1"))
    await eventually(lambda: inbox(ther1), message="therapist 1 told")
    await eventually(lambda: inbox(ther2), message="therapist 2 told")
    assert await inbox(oncall) == []

    # Nobody acknowledges it: five minutes later it escalates to the on-call nurse.
    clock = await http.put(
        "/admin/test-clock",
        json={"now": (datetime.now(UTC) + timedelta(minutes=6)).isoformat()},
        headers=admin,
    )
    assert clock.status_code == 200, clock.text
    [escalated] = await eventually(lambda: inbox(oncall), message="escalated to on-call")
    assert "Escalated" in escalated["body"]
    assert "5 min" in escalated["body"]

    # Alert 2: therapist 2 acknowledges in time; it never reaches on-call staff.
    await bus.publish(alert("alert-2", "client-1"))

    async def second(who: dict[str, str]) -> list[dict[str, Any]] | None:
        items = await inbox(who)
        return items if len(items) == 2 else None

    items = await eventually(lambda: second(ther2), message="alert 2 to therapist 2")
    newest = max(items, key=lambda i: i["created_at"])
    acked = await http.post(f"/inbox/{newest['id']}/acknowledge", headers=ther2)
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_at"], acked.text
    other = await http.post(f"/inbox/{newest['id']}/acknowledge", headers=ther1)
    assert other.status_code == 404  # only one's own message
    record = await db["alert_escalations"].find_one({"_id": "alert-2"})
    assert record is not None
    assert (record["status"], record["acknowledged_by"]) == ("acknowledged", "ther-2")
    await http.put(
        "/admin/test-clock",
        json={"now": (datetime.now(UTC) + timedelta(minutes=30)).isoformat()},
        headers=admin,
    )

    # Alert 3, about a client in no session: on-call staff at once. Once it is there,
    # the worker has run past alert 2's due time: still one escalation only.
    await bus.publish(alert("alert-3", "client-2"))

    async def third() -> list[dict[str, Any]] | None:
        items = await inbox(oncall)
        return items if any(i["client_id"] == "client-2" for i in items) else None

    found = await eventually(third, message="no-session alert to on-call")
    assert sorted(i["client_id"] for i in found) == ["client-1", "client-2"], found
    await http.aclose()
