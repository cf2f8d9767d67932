"""The whole platform plus the console behind the gateway, and an agency set up through
the public API to the point where a dosing session can be booked.

Reuses the end-to-end helpers (tests/e2e): the Platform starts every service and the
gateway; the console is started after it and the gateway restarted with its upstream.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.processes import ServiceProcess

from tests.e2e.journey import (
    Course,
    book,
    iso,
    local_day,
    ok,
    register_client,
    set_up_agency,
    until_ok,
)
from tests.e2e.platform import PASSWORD, Gateway, Person, Platform, fresh_otp

BROWSER = os.environ.get("HALCYON_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("HALCYON_SCREENSHOTS_DIR", "")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def start_console(platform: Platform) -> ServiceProcess:
    """The console talks to the gateway; the gateway forwards /console to the console."""
    console = platform._spawn("console", HALCYON_CONSOLE_GATEWAY_URL=platform.gateway.url)
    console.wait_ready(timeout=180)
    platform.gateway.restart(HALCYON_GATEWAY_CONSOLE_UPSTREAM=console.url).wait_ready(timeout=180)
    return console


class Otp:
    """One-time codes that are never replayed: identity refuses a TOTP step not later than
    the last one used, so each sign-in takes the person's next step (tests/e2e)."""

    async def code(self, person: Person, first_used_at: float | None = None) -> str:
        assert person.totp_secret
        if first_used_at is not None:
            # Sign-ins made outside this process's view (the journey's set-up) used at most
            # the step after ``first_used_at``.
            person.last_step = max(person.last_step, math.floor((first_used_at + 30) / 30))
        return await fresh_otp(person)


@dataclass
class Agency:
    course: Course
    client_id: str
    client_name: str
    other_client_id: str  # registered, no consent: booking a dosing session is refused
    dosing_room: str
    office: str
    registration_id: str = ""
    lot_id: str = ""
    location_id: str = ""
    signed_in_at: float = field(default_factory=time.time)


async def prepare_agency(gw: Gateway, name: str, with_stock: bool = True) -> Agency:
    """Staff, a client ready for a dosing session (consent, eligible screening, three
    completed preparation sessions), rooms, hours, availability and MDMA in the safe."""
    course = await set_up_agency(gw, name)
    s = course.staff
    site = course.site_id
    course.client_id = await register_client(gw, course, "Grace")
    other = await register_client(gw, course, "Ada")
    client = course.client_id
    now = datetime.now(UTC).replace(microsecond=0)
    ok(
        await gw.post(
            f"/api/clinical/clients/{client}/screenings",
            s.prescriber,
            json={
                "protocol_id": "mdma-ptsd",
                "history": {
                    "screened_on": now.date().isoformat(),
                    "systolic_bp": 122,
                    "diastolic_bp": 78,
                    "qtc_ms": 410,
                    "diagnoses": ["F43.10"],
                },
            },
        ),
        201,
    )
    ok(
        await gw.post(
            f"/api/clinical/clients/{client}/consents",
            s.lead,
            json={
                "kind": "psychedelic_informed",
                "protocol_id": "mdma-ptsd",
                "effective_at": iso(now - timedelta(minutes=5)),
                "signed_by_name": "Grace Hopper",
                "signed_at": iso(now - timedelta(minutes=5)),
            },
        ),
        201,
    )
    for weeks_ago, (instrument, items) in zip(
        (6, 3, 0),
        (
            ("phq9", [2, 2, 2, 2, 2, 2, 2, 1, 0]),
            ("phq9", [2, 1, 1, 1, 1, 1, 1, 1, 0]),
            ("phq9", [1, 1, 0, 1, 0, 1, 0, 0, 0]),
        ),
        strict=True,
    ):
        ok(
            await gw.post(
                f"/api/clinical/clients/{client}/assessments",
                s.lead,
                json={
                    "instrument": instrument,
                    "site_id": site,
                    "administered_at": iso(now - timedelta(weeks=weeks_ago, hours=1)),
                    "items": items,
                },
            ),
            201,
        )
    dosing_room = ok(
        await gw.post(
            "/api/scheduling/rooms",
            s.admin,
            json={"site_id": site, "name": "Dosing suite", "attributes": ["dosing_room"]},
        ),
        201,
    )["id"]
    office = ok(
        await gw.post(
            "/api/scheduling/rooms",
            s.admin,
            json={"site_id": site, "name": "Office 1", "attributes": ["office"]},
        ),
        201,
    )["id"]
    week = [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(7)]
    await until_ok(gw, f"/api/scheduling/sites/{site}", s.admin)
    ok(await gw.put(f"/api/scheduling/sites/{site}/opening-hours", s.admin, json={"windows": week}))
    for therapist in (s.lead, s.second):
        await until_ok(gw, f"/api/scheduling/clinicians/{therapist.id}", s.admin)
        ok(
            await gw.put(
                f"/api/scheduling/clinicians/{therapist.id}/availability",
                s.admin,
                json={"site_id": site, "weekly": week},
            )
        )
    readiness = f"/api/scheduling/clients/{client}/protocols/mdma-ptsd/readiness"
    await until_ok(
        gw,
        readiness,
        s.front_desk,
        lambda b: b["informed_consent"] is True and b["eligible_screening"] is True,
    )
    for day in (1, 2, 3):
        prep = ok(
            await book(
                gw,
                course,
                s.front_desk,
                "mdma_preparation",
                local_day(day, clock(10)),
                [s.lead],
                office,
            ),
            201,
        )
        for step in ("check-in", "start", "complete"):
            ok(await gw.post(f"/api/scheduling/appointments/{prep['id']}/{step}", s.lead))
    agency = Agency(course, client, "Grace Hopper", other, dosing_room, office)
    if with_stock:
        await stock_the_safe(gw, agency, now)
    return agency


async def stock_the_safe(gw: Gateway, agency: Agency, now: datetime) -> None:
    s = agency.course.staff
    site = agency.course.site_id
    body = {
        "site_id": site,
        "dea_number": "BC7654329",  # the site's registration, as identity lists it
        "registrant_name": "Halcyon Boulder",
        "kind": "researcher",
        "schedules": ["I", "II"],
        "protocol_id": "mdma-ptsd",
        "expires_on": (now + timedelta(days=365)).date().isoformat(),
    }

    async def register() -> Any:
        # Inventory learns the site's DEA registrations from identity's events.
        response = await gw.post("/api/inventory/registrations", s.compliance, json=body)
        return None if response.status_code == 422 and "lists no DEA" in response.text else response

    agency.registration_id = ok(
        await eventually(register, within=60, interval=0.5, message="site known"), 201
    )["id"]
    product = ok(
        await gw.post(
            "/api/inventory/products",
            s.admin,
            json={
                "substance": "MDMA",
                "schedule": "I",
                "form": "capsule",
                "strength_mg": 20,
                "units_per_container": 30,
                "low_stock_threshold_mg": 40,
            },
        ),
        201,
    )
    agency.location_id = ok(
        await gw.post(
            "/api/inventory/locations",
            s.compliance,
            json={"registration_id": agency.registration_id, "name": "Safe", "kind": "safe"},
        ),
        201,
    )["id"]
    agency.lot_id = ok(
        await gw.post(
            "/api/inventory/lots",
            s.compliance,
            json={
                "product_id": product["id"],
                "lot_number": "MD-2026-01",
                "expires_on": (now + timedelta(days=365)).date().isoformat(),
                "supplier_name": "Research Supply Co",
                "supplier_dea_number": "RS7654321",
            },
        ),
        201,
    )["id"]
    ok(
        await gw.post(
            f"/api/inventory/registrations/{agency.registration_id}/inventories",
            s.compliance,
            json={"kind": "initial", "taken_at": "opening", "items": []},
        ),
        201,
    )
    ok(
        await gw.post(
            "/api/inventory/receipts",
            s.compliance,
            json={
                "lot_id": agency.lot_id,
                "location_id": agency.location_id,
                "quantity_mg": 400,
                "received_on": now.date().isoformat(),
                "order_form_number": "222-2026-000101",
            },
        ),
        201,
    )


async def shot(page: Any, name: str) -> None:
    """Save a screenshot when HALCYON_SCREENSHOTS_DIR is set (make screenshots)."""
    if not SCREENSHOTS:
        return
    await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


__all__ = ["PASSWORD", "Agency", "Otp", "prepare_agency", "shot", "start_console"]
