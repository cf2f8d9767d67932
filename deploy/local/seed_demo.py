"""Seed a demo agency into a running local platform (`make up` calls this).

Two sites in different time zones, staff of every role, 50 clients, a week of
appointments and controlled-substance stock — all created through the gateway's
public API with real sign-ins, using the same set-up steps as the end-to-end journey
(tests/e2e/journey.py), so the demo and the tests cannot drift apart.

    uv run python deploy/local/seed_demo.py --gateway http://127.0.0.1:8000 \
        --identity http://127.0.0.1:8101 --out .run/demo-logins.txt
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the journey's set-up steps live with the e2e tests

from tests.e2e.journey import (  # noqa: E402
    Course,
    book,
    local_day,
    ok,
    register_client,
    set_up_agency,
)
from tests.e2e.platform import PASSWORD, Gateway, Person  # noqa: E402

GIVEN_NAMES = ["Ada", "Bea", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo"]


@dataclass
class Endpoint:
    url: str


@dataclass
class RunningPlatform:
    """Duck-types what the e2e Gateway client needs from a platform it started itself."""

    gateway: Endpoint
    processes: dict[str, Endpoint]


def progress(label: str, done: int, total: int) -> None:
    filled = int(30 * done / max(total, 1))
    sys.stderr.write(f"\r[seed] {label:<22} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")


async def second_site(gw: Gateway, course: Course) -> tuple[str, Person, Person]:
    admin = course.staff.admin
    site = ok(
        await gw.post(
            "/api/identity/sites",
            admin,
            json={
                "name": "Brooklyn clinic",
                "timezone": "America/New_York",
                "address": {
                    "line1": "5 Main St",
                    "city": "Brooklyn",
                    "region": "NY",
                    "postal_code": "11201",
                },
            },
        ),
        201,
    )
    desk = await gw.add_staff(admin, "front_desk", site["id"], "Nia Desk")
    therapist = await gw.add_staff(
        admin,
        "therapist",
        site["id"],
        "Theo Therapist",
        licences=[{"type": "LMHC", "number": "NY-1", "state": "NY", "expires_on": "2030-01-01"}],
    )
    return site["id"], desk, therapist


async def stock(gw: Gateway, course: Course) -> None:
    s = course.staff
    now = datetime.now(UTC)
    registration = ok(
        await gw.post(
            "/api/inventory/registrations",
            s.compliance,
            json={
                "site_id": course.site_id,
                "dea_number": "BC7654329",
                "registrant_name": "Halcyon Demo",
                "kind": "researcher",
                "schedules": ["I", "II"],
                "protocol_id": "mdma-ptsd",
                "expires_on": (now + timedelta(days=365)).date().isoformat(),
            },
        ),
        201,
    )
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
                "low_stock_threshold_mg": 240,
            },
        ),
        201,
    )
    location = ok(
        await gw.post(
            "/api/inventory/locations",
            s.compliance,
            json={"registration_id": registration["id"], "name": "Safe A", "kind": "safe"},
        ),
        201,
    )
    lot = ok(
        await gw.post(
            "/api/inventory/lots",
            s.compliance,
            json={
                "product_id": product["id"],
                "lot_number": "MD-DEMO-01",
                "expires_on": (now + timedelta(days=365)).date().isoformat(),
                "supplier_name": "Research Supply Co",
                "supplier_dea_number": "RS7654321",
            },
        ),
        201,
    )
    ok(
        await gw.post(
            f"/api/inventory/registrations/{registration['id']}/inventories",
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
                "lot_id": lot["id"],
                "location_id": location["id"],
                "quantity_mg": 1200,
                "received_on": now.date().isoformat(),
                "order_form_number": "222-DEMO-0001",
            },
        ),
        201,
    )


async def week_of_appointments(gw: Gateway, course: Course, clients: list[str]) -> int:
    s = course.staff
    office = ok(
        await gw.post(
            "/api/scheduling/rooms",
            s.admin,
            json={"site_id": course.site_id, "name": "Office 1", "attributes": ["office"]},
        ),
        201,
    )["id"]
    booked = 0
    slots = [(day, hour) for day in range(1, 8) for hour in (9, 10, 11, 13, 14, 15)]
    for (day, hour), client in zip(slots, clients, strict=False):
        course.client_id = client
        therapist = s.lead if (day + hour) % 2 else s.second
        for _ in range(20):  # scheduling learns of new clients and staff from events
            response = await book(
                gw,
                course,
                s.front_desk,
                "psychotherapy",
                local_day(day, time(hour, 0)),
                [therapist],
                office,
            )
            if response.status_code == 201:
                booked += 1
                break
            if response.status_code not in (404, 422):
                break
            await asyncio.sleep(0.5)
        progress("appointments", booked, min(len(slots), len(clients)))
    return booked


async def seed(gateway_url: str, identity_url: str) -> str:
    platform = RunningPlatform(Endpoint(gateway_url), {"identity": Endpoint(identity_url)})
    gw = Gateway(cast(Any, platform))
    try:
        course = await set_up_agency(gw, "Halcyon Demo Agency")
        brooklyn, brooklyn_desk, brooklyn_therapist = await second_site(gw, course)
        clients: list[str] = []
        for i in range(50):
            given = f"{GIVEN_NAMES[i % len(GIVEN_NAMES)]}{i:02d}"
            if i % 5 == 4:  # every fifth client at the Brooklyn site
                other = Course(site_id=brooklyn, staff=course.staff)
                other.staff = type(course.staff)(
                    **{**course.staff.__dict__, "front_desk": brooklyn_desk}
                )
                await register_client(gw, other, given)
            else:
                clients.append(await register_client(gw, course, given))
            progress("clients", i + 1, 50)
        booked = await week_of_appointments(gw, course, clients)
        await stock(gw, course)
        s = course.staff
        lines = [
            f"Demo agency id: {s.admin.agency_id}   (the console finds it from the email)",
            f"Password for everyone: {PASSWORD}",
            "MFA roles sign in with a TOTP code from the secret shown (e.g. `oathtool --totp -b`).",
            "",
        ]
        people = [
            *s.__dict__.items(),
            ("front_desk (Brooklyn)", brooklyn_desk),
            ("therapist (Brooklyn)", brooklyn_therapist),
        ]
        for label, person in people:
            totp = f"   TOTP secret {person.totp_secret}" if person.totp_secret else ""
            lines.append(f"  {label:<22} {person.email}{totp}")
        lines += [
            "",
            f"Seeded: 2 sites, {len(people)} staff, 50 clients, {booked} appointments "
            "this week, 1200 mg MDMA in Safe A (Boulder).",
        ]
        return "\n".join(lines) + "\n"
    finally:
        await gw.aclose()


async def already_seeded(gateway_url: str, text: str) -> bool:
    """The logins file exists and its admin can still sign in (data not wiped)."""
    if not text:
        return False
    agency = text.split("Demo agency id: ", 1)[1].split()[0] if "Demo agency id: " in text else ""
    email = next(
        (
            line.split()[1]
            for line in text.splitlines()
            if "agency_admin" in line or line.strip().startswith("admin")
        ),
        "",
    )
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        r = await http.post(
            "/api/identity/auth/sign-in",
            json={"agency_id": agency, "email": email, "password": PASSWORD},
        )
    # Every role signs in with a code too (ADR 0103): "the code is missing" means the
    # agency, the admin and the password are all there.
    return r.status_code == 401 and str(r.json().get("type", "")).endswith("/mfa-required")


def main() -> None:
    parser = argparse.ArgumentParser(description="Seed the Halcyon demo agency")
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--identity", default="http://127.0.0.1:8101")
    parser.add_argument("--out", type=Path, default=ROOT / ".run" / "demo-logins.txt")
    args = parser.parse_args()
    previous = args.out.read_text() if args.out.exists() else ""
    if asyncio.run(already_seeded(args.gateway, previous)):
        print(previous)
        return
    logins = asyncio.run(seed(args.gateway, args.identity))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(logins)
    print(logins)


if __name__ == "__main__":
    main()
