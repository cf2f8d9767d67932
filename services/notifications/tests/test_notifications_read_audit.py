"""Issue 18, item 10: every notifications GET route (enumerated from the app's wiring)
that returns a client's data leaves an access audit entry naming the client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from halcyon.notifications.app import wiring
from halcyon.shared.contracts.clinical import VitalsAlertRaised
from halcyon.shared.contracts.identity import StaffMemberChanged
from halcyon.shared.testing.audit_walk import audited_request_ids, get_routes, walk
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from test_notifications_end_to_end import (  # type: ignore[import-not-found]
    SITE,
    Bus,
    appointment,
    client,
    notifications_bus,
)

from tests.fixtures import StartService

pytestmark = pytest.mark.integration
__all__ = ["notifications_bus"]  # the fixture, used by name below
CLIENT = "client-walk"
# The client's own unsubscribe page (no staff member reads anything there).
NOT_A_STAFF_READ = {"/unsubscribe/{token}"}


async def test_every_read_of_client_data_is_audited(
    start_service: StartService,
    notifications_bus: Bus,
    token_issuer: TestTokenIssuer,
    servers: Servers,
    topic_prefix: str,
) -> None:
    bus = notifications_bus
    tenant = bus.tenant
    service = start_service("notifications", HALCYON_NOTIFICATIONS_WORKER_POLL_SECONDS="0.2")
    http = httpx.AsyncClient(base_url=service.url, timeout=10.0)
    admin = token_issuer.headers(tenant_id=tenant, user_id="admin-1", roles=[("*", "agency_admin")])
    await bus.publish(
        StaffMemberChanged(
            staff_id="admin-1",
            display_name="Ada Admin",
            roles=[{"site": "*", "role": "agency_admin"}],
            on_call_sites=[SITE],
        )
    )
    await bus.publish(client(CLIENT, "walk@example.test"))

    async def known() -> bool:
        response = await http.get(f"/clients/{CLIENT}/preferences", headers=admin)
        return response.status_code == 200

    await eventually(known, message="client known")
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    await bus.publish(appointment("appt-walk", CLIENT, "booked", starts, 1))
    await bus.publish(
        VitalsAlertRaised(
            alert_id="alert-walk",
            client_id=CLIENT,
            site_id=SITE,
            reading_id="r-walk",
            measured_at=datetime.now(UTC),
            breaches=["systolic 172 > 160 mmHg"],
        )
    )

    async def settled() -> bool:
        inbox = (await http.get("/inbox", headers=admin)).json()["items"]
        deliveries = (await http.get("/deliveries", headers=admin)).json()["items"]
        return bool(inbox) and any(d.get("recipient_id") == CLIENT for d in deliveries)

    await eventually(settled, message="an alert and a client delivery exist")
    calls = {
        "/inbox": "/inbox",
        "/inbox/unread-count": "/inbox/unread-count",
        "/staff/me/preferences": "/staff/me/preferences",
        "/clients/{client_id}/preferences": f"/clients/{CLIENT}/preferences",
        "/deliveries": "/deliveries",
        "/dead-deliveries": "/dead-deliveries",
        "/appointments/{appointment_id}/reminders": "/appointments/appt-walk/reminders",
        "/templates": "/templates",
        "/admin/test-clock": "/admin/test-clock",
    }
    assert sorted(get_routes(wiring) - set(calls) - NOT_A_STAFF_READ) == [], "walk new routes"
    made = await walk(http, {route: (url, admin) for route, url in calls.items()})
    assert made.failures() == {}, made.failures()
    reads = made.reads_of([CLIENT, "appt-walk"])
    assert {
        "/inbox",
        "/clients/{client_id}/preferences",
        "/deliveries",
        "/appointments/{appointment_id}/reminders",
    } <= set(reads.values())
    found = await audited_request_ids(
        servers.kafka_bootstrap, topic_prefix + "audit.access.v1", reads
    )
    missing = sorted(route for rid, route in reads.items() if rid not in found)
    assert missing == [], (
        f"reads of client data without an audit entry naming the client: {missing}"
    )
    await http.aclose()
