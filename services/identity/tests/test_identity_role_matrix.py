"""Who may do what in identity: every role against every endpoint; agencies never see each other."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from halcyon.shared.testing.plugin import eventually

from services.identity.tests.identity_testkit import (
    SITE,
    Agency,
    Member,
    add_staff,
    client_registered,
    create_agency,
    start_identity,
)
from tests.fixtures import StartService

pytestmark = pytest.mark.integration

ROLES = [
    "agency_admin",
    "front_desk",
    "therapist",
    "prescriber",
    "nurse",
    "biller",
    "compliance_officer",
]
EVERYONE = set(ROLES)


def _new_staff() -> dict[str, Any]:
    return {
        "display_name": "New Person",
        "email": f"new-{uuid.uuid4().hex[:6]}@example.org",
        "roles": [{"site": "*", "role": "front_desk"}],
        "initial_password": "correct horse battery staple",
    }


async def test_each_role_gets_what_its_work_needs_and_403_for_the_rest(
    start_service: StartService,
) -> None:
    identity = start_identity(start_service)
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        site_id = (await http.post("/sites", json=SITE, headers=agency.admin.headers)).json()["id"]
        people: dict[str, Member] = {"agency_admin": agency.admin}
        for role in ROLES[1:]:
            people[role] = await add_staff(http, agency, role)
        someone = (await add_staff(http, agency, "front_desk", sign_in_now=False)).id
        await client_registered(identity, agency.id, "c-1")

        async def client_known() -> bool | None:
            # One grant once identity has clinical's event: the matrix then runs on it.
            response = await http.post(
                "/break-the-glass",
                json={"client_id": "c-1", "reason": "client in crisis at the desk"},
                headers=people["therapist"].headers,
            )
            return True if response.status_code == 201 else None

        await eventually(client_known, message="identity knows client c-1")

        # (method, path, body factory, roles allowed)
        matrix: list[tuple[str, str, Callable[[], Any] | None, set[str]]] = [
            ("GET", "/sites", None, EVERYONE),
            ("GET", f"/sites/{site_id}", None, EVERYONE),
            ("POST", "/sites", lambda: SITE, {"agency_admin"}),
            ("PUT", f"/sites/{site_id}", lambda: SITE, {"agency_admin"}),
            ("GET", "/me", None, EVERYONE),
            ("GET", "/staff", None, {"agency_admin", "compliance_officer"}),
            ("GET", f"/staff/{someone}", None, {"agency_admin", "compliance_officer"}),
            ("POST", "/staff", _new_staff, {"agency_admin"}),
            ("POST", f"/staff/{someone}/unlock", None, {"agency_admin"}),
            ("GET", "/audit/access", None, {"compliance_officer"}),
            ("GET", "/break-the-glass", None, {"compliance_officer"}),
            (
                "POST",
                "/break-the-glass",
                lambda: {"client_id": "c-1", "reason": "client in crisis at the desk"},
                {"therapist", "prescriber", "nurse"},
            ),
            ("POST", "/credentials/expiry-scan", None, {"agency_admin"}),
            # One key signs every agency's tokens: no tenant role may rotate it (ADR 0105).
            ("POST", "/signing-keys/rotate", None, set()),
        ]
        # The audit trail and break-the-glass need a second factor whoever asks (ADR 0103):
        # people who signed in with a password only (none, now that every role enrols)
        # would be told so before their role is.
        needs_second_factor = ("/audit/", "/break-the-glass")
        failures = []
        for method, path, body, allowed in matrix:
            for role, member in people.items():
                response = await http.request(
                    method, path, json=body() if body else None, headers=member.headers
                )
                if role in allowed:
                    ok = response.status_code in (200, 201, 204)
                elif path.startswith(needs_second_factor) and not member.totp_secret:
                    ok = response.status_code == 401 and response.json()["type"].endswith(
                        "/second-factor-required"
                    )
                else:
                    ok = (
                        response.status_code == 403
                        and response.headers["content-type"] == "application/problem+json"
                        and response.json()["type"].endswith("/forbidden")
                    )
                if not ok:
                    failures.append(f"{role} {method} {path} -> {response.status_code}")
        assert failures == [], "\n".join(failures)
        # Personnel files are readable by their owner, nobody else's by a therapist.
        mine = await http.get(
            f"/staff/{people['therapist'].id}", headers=people["therapist"].headers
        )
        assert mine.status_code == 200


async def test_an_admin_of_agency_b_sees_nothing_of_agency_a(start_service: StartService) -> None:
    identity = start_identity(start_service)
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        a: Agency = await create_agency(http, "Agency A")
        b: Agency = await create_agency(http, "Agency B")
        a_site = (await http.post("/sites", json=SITE, headers=a.admin.headers)).json()["id"]
        a_therapist = await add_staff(http, a, "therapist", a_site)
        await client_registered(identity, a.id, "a-client")

        async def emergency_grant() -> httpx.Response | None:
            response = await http.post(
                "/break-the-glass",
                json={"client_id": "a-client", "reason": "client in crisis at the desk"},
                headers=a_therapist.headers,
            )
            return response if response.status_code == 201 else None

        granted = await eventually(emergency_grant, message="identity knows a-client")
        b_compliance = await add_staff(http, b, "compliance_officer")
        grant_id = granted.json()["grant_id"]
        b_admin = b.admin.headers

        assert (await http.get("/sites", headers=b_admin)).json()["items"] == []
        assert (await http.get(f"/sites/{a_site}", headers=b_admin)).status_code == 404
        assert (await http.put(f"/sites/{a_site}", json=SITE, headers=b_admin)).status_code == 404
        staff_b = (await http.get("/staff", headers=b_admin)).json()["items"]
        assert {s["id"] for s in staff_b} == {b.admin.id, b_compliance.id}
        for path in [f"/staff/{a_therapist.id}", f"/staff/{a.admin.id}"]:
            assert (await http.get(path, headers=b_admin)).status_code == 404
        moved = await http.put(
            f"/staff/{a_therapist.id}",
            json={
                "display_name": "Hijacked",
                "email": "h@example.org",
                "roles": [{"site": "*", "role": "agency_admin"}],
            },
            headers=b_admin,
        )
        assert moved.status_code == 404
        assert (
            await http.post(f"/staff/{a_therapist.id}/unlock", headers=b_admin)
        ).status_code == 404
        # A's site cannot be used to give B's staff a role there.
        stolen_site = {
            "display_name": "Sneaky",
            "email": f"s-{uuid.uuid4().hex[:6]}@example.org",
            "roles": [{"site": a_site, "role": "therapist"}],
            "initial_password": "correct horse battery staple",
        }
        assert (await http.post("/staff", json=stolen_site, headers=b_admin)).status_code == 422
        # B's compliance officer sees none of A's audit trail or emergency grants.
        b_comp = b_compliance.headers
        assert (await http.get("/break-the-glass", headers=b_comp)).json()["items"] == []
        review = await http.post(
            f"/break-the-glass/{grant_id}/review", json={"note": "x"}, headers=b_comp
        )
        assert review.status_code == 404
        # B's own queries are audited too (a query for "a-client" is logged in B's trail,
        # by B's officer, once the audit event arrives), so the test is whose entries they are.
        b_people = {b.admin.id, b_compliance.id}
        for params in [{"client_id": "a-client"}, {"user_id": a_therapist.id}, {}]:
            seen = (await http.get("/audit/access", params=params, headers=b_comp)).json()
            assert {e["user_id"] for e in seen["items"]} <= b_people, params
            assert all(
                e["user_id"] == b_compliance.id and e["resource"] == "identity/access-audit"
                for e in seen["items"]
                if e.get("client_id") == "a-client"
            ), params
        # Credential scans only touch the caller's agency.
        assert (await http.post("/credentials/expiry-scan", headers=b_admin)).json() == {
            "queued": 0
        }
        # Last (its refusal would show in B's trail above).
        # B's therapist cannot break the glass on A's client: to B it does not exist.
        b_therapist = await add_staff(http, b, "therapist")
        refused = await http.post(
            "/break-the-glass",
            json={"client_id": "a-client", "reason": "client in crisis at the desk"},
            headers=b_therapist.headers,
        )
        assert refused.status_code == 422, refused.text
