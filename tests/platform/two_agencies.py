"""One whole platform (tests/e2e/platform.py) with two agencies, shared by the input,
foreign-id and OpenAPI tests of issue 19 (one start for all three files).

Agency A is "ours"; agency B is the other agency whose ids we try to use. Each has a
site that every service knows (the read models caught up) and a client; A also has a
member of staff who holds every role at its site (with MFA) for the OpenAPI run.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers

from tests.e2e.platform import PASSWORD, Gateway, Person, Platform, run_dir

ADDRESS = {"line1": "1 Pearl St", "city": "Boulder", "region": "CO", "postal_code": "80302"}
EVERY_ROLE = (
    "agency_admin",
    "front_desk",
    "therapist",
    "prescriber",
    "nurse",
    "biller",
    "compliance_officer",
)


@dataclass
class Agency:
    admin: Person
    site_id: str
    client_id: str
    therapist: Person


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


async def set_up_agency(gw: Gateway, name: str) -> Agency:
    admin = await gw.bootstrap_agency(name)
    site = await _ok(
        await gw.post(
            "/api/identity/sites",
            admin,
            json={"name": f"{name} clinic", "timezone": "America/Denver", "address": ADDRESS},
        ),
        201,
    )
    therapist = await gw.add_staff(admin, "therapist", site["id"], f"{name} therapist")

    async def known_everywhere() -> bool | None:
        # Every read model that resolves sites and staff has caught up with identity.
        for path in (
            f"/api/scheduling/sites/{site['id']}",
            f"/api/scheduling/clinicians/{therapist.id}",
        ):
            if (await gw.get(path, admin)).status_code != 200:
                return None
        return True

    await eventually(known_everywhere, within=60, interval=0.5, message="site known")

    async def register() -> Any:
        response = await gw.post(
            "/api/clinical/clients",
            admin,
            json={
                "given_name": "Robin",
                "family_name": f"Client {uuid.uuid4().hex[:6]}",
                "date_of_birth": "1980-02-03",
                "home_site_id": site["id"],
            },
        )
        return response.json() if response.status_code == 201 else None

    client = await eventually(register, within=60, interval=0.5, message="client registered")
    return Agency(admin, site["id"], client["id"], therapist)


async def person_with_every_role(gw: Gateway, agency: Agency) -> Person:
    email = f"everything-{uuid.uuid4().hex[:6]}@example.org"
    created = await _ok(
        await gw.post(
            "/api/identity/staff",
            agency.admin,
            json={
                "display_name": "Eve Everything",
                "email": email,
                "roles": [
                    {"site": "*" if role == "agency_admin" else agency.site_id, "role": role}
                    for role in EVERY_ROLE
                ],
                "initial_password": PASSWORD,
            },
        ),
        201,
    )
    person = Person(created["id"], email, "agency_admin", agency.admin.agency_id)
    await gw.enrol(person)
    await gw.sign_in(person)
    return person


@dataclass
class World:
    platform: Platform
    gw: Gateway
    a: Agency
    b: Agency


@pytest.fixture(scope="session")
def issue19_platform(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    running = Platform(servers, run_dir(tmp_path_factory, "issue19"))
    try:
        yield running.start()
    finally:
        running.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def world(issue19_platform: Platform) -> AsyncIterator[World]:
    gw = Gateway(issue19_platform)
    try:
        a = await set_up_agency(gw, "Agency A")
        b = await set_up_agency(gw, "Agency B")
        yield World(issue19_platform, gw, a, b)
    finally:
        await gw.aclose()
