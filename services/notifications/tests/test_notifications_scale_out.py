"""Two notifications instances; the one running the reminder worker is SIGKILLed.

Issue 12: background work that must run once stays correct with several instances.
The worker holds a lease and claims each due reminder with a conditional update, so
the survivor takes over after the lease expires and every reminder is sent exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from halcyon.shared.contracts.identity import StaffMemberChanged
from halcyon.shared.mongo import connect
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.processes import free_port
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from test_notifications_end_to_end import (  # type: ignore[import-not-found]
    Bus,
    appointment,
    client,
    mails,
    notifications_bus,
)

from tests.fixtures import StartService

pytestmark = pytest.mark.integration
__all__ = ["notifications_bus"]  # the fixture, used by name below
APPOINTMENTS = 8


async def test_reminders_are_sent_once_when_the_worker_instance_is_killed(
    start_service: StartService,
    notifications_bus: Bus,
    token_issuer: TestTokenIssuer,
    servers: Servers,
    unique: str,
) -> None:
    bus = notifications_bus
    smtp_port = free_port()
    sink = start_service(
        "devsmtp", app="halcyon.notifications.devsmtp:app", HALCYON_DEVSMTP_SMTP_PORT=str(smtp_port)
    )
    env = {
        "HALCYON_NOTIFICATIONS_SMTP_PORT": str(smtp_port),
        "HALCYON_NOTIFICATIONS_WORKER_POLL_SECONDS": "0.2",
    }
    instances = [start_service("notifications", **env), start_service("notifications", **env)]
    admin = token_issuer.headers(
        tenant_id=bus.tenant, user_id="admin-1", roles=[("*", "agency_admin")]
    )
    await bus.publish(
        StaffMemberChanged(
            staff_id="admin-1",
            display_name="Ada Admin",
            email="admin@agency.test",
            roles=[{"site": "*", "role": "agency_admin"}],
        )
    )
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=3)
    emails = [f"c{i}-{unique}@example.test" for i in range(APPOINTMENTS)]
    for i, email in enumerate(emails):
        await bus.publish(client(f"client-{i}", email))
    for i in range(APPOINTMENTS):
        await bus.publish(appointment(f"appt-{i}", f"client-{i}", "booked", start, 1))

    async def subjects(word: str) -> dict[str, int]:
        counts = {}
        for email in emails:
            counts[email] = len([m for m in await mails(sink.url, email) if word in m["subject"]])
        return counts

    async def all_confirmed() -> bool:
        return all(n == 1 for n in (await subjects("booked")).values())

    await eventually(all_confirmed, within=120, message="every booking confirmed")

    # Kill whichever instance holds the worker lease, mid-life, with SIGKILL.
    database = connect(servers.mongo_url)[f"t_{unique}_notifications"]
    lease: Any = await database["leases"].find_one({"_id": "notifications-worker"})
    holder_pid = int(lease["holder"].split(":")[1])
    holder = next(p for p in instances if p.proc is not None and p.proc.pid == holder_pid)
    survivor = next(p for p in instances if p is not holder)
    holder.kill()

    # Every 24 h reminder becomes due; only the survivor can send them, after the lease
    # of the dead instance expires.
    async with httpx.AsyncClient(base_url=survivor.url, timeout=30) as http:
        at = start - timedelta(hours=24) + timedelta(minutes=1)
        response = await http.put("/admin/test-clock", json={"now": at.isoformat()}, headers=admin)
        assert response.status_code == 200, response.text

    async def all_reminded() -> dict[str, int] | None:
        counts = await subjects("Reminder")
        return counts if all(n >= 1 for n in counts.values()) else None

    await eventually(all_reminded, within=120, message="every 24 h reminder sent")
    # Nothing was sent twice, even though the killed instance may have held work in flight.
    assert set((await subjects("Reminder")).values()) == {1}
    await database.client.close()
