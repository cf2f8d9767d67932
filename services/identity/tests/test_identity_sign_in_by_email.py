"""Sign-in by email: the agency is found from the email; nobody types an agency id."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.identity.tests.identity_testkit import (
    PASSWORD,
    Member,
    create_agency,
    enrol_totp,
    sign_in,
    start_identity,
)
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_an_email_finds_its_one_agency_or_its_several_and_unknown_looks_the_same(
    start_service: StartService,
) -> None:
    identity = start_identity(start_service)
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        suffix = uuid.uuid4().hex[:6]
        boulder = await create_agency(http, f"Boulder Psychedelic Clinic {suffix}")
        austin = await create_agency(http, f"Austin Ketamine Center {suffix}")
        # Front desk: a role that signs in with a password alone (ADR 0103), so the test
        # is about finding the agency, not the second factor.
        both = f"Therapist.{suffix}@Example.org"
        for agency in (boulder, austin):
            made = await http.post(
                "/staff",
                json={
                    "display_name": "Tess Therapist",
                    "email": both,
                    "roles": [{"site": "*", "role": "front_desk"}],
                    "initial_password": PASSWORD,
                },
                headers=agency.admin.headers,
            )
            assert made.status_code == 201, made.text

        one = await http.post("/auth/agencies", json={"email": boulder.admin.email})
        assert one.status_code == 200
        assert one.json() == {
            "agencies": [{"agency_id": boulder.id, "name": f"Boulder Psychedelic Clinic {suffix}"}]
        }

        # Case and spaces do not matter; the several agencies come sorted by name.
        two = await http.post("/auth/agencies", json={"email": f"  {both.upper()} "})
        assert two.status_code == 200
        assert [a["agency_id"] for a in two.json()["agencies"]] == [austin.id, boulder.id]
        for chosen in (austin.id, boulder.id):
            member = Member("?", both.lower(), "front_desk", chosen)
            await enrol_totp(http, member)  # each agency's record has its own authenticator
            signed = await sign_in(http, member)
            assert signed.status_code == 200, signed.text

        unknown = await http.post("/auth/agencies", json={"email": f"nobody-{suffix}@x.org"})
        assert unknown.status_code == 200
        assert unknown.json() == {"agencies": []}

        # A leaver's agency is no longer offered.
        leaver = await http.post(
            "/staff",
            json={
                "display_name": "Lee Leaver",
                "email": f"leaver-{suffix}@example.org",
                "roles": [{"site": "*", "role": "front_desk"}],
                "initial_password": PASSWORD,
            },
            headers=boulder.admin.headers,
        )
        assert leaver.status_code == 201, leaver.text
        staff_file = leaver.json()
        staff_file.pop("id")
        left = await http.put(
            f"/staff/{leaver.json()['id']}",
            json={**{k: v for k, v in staff_file.items() if k in PUT_FIELDS}, "active": False},
            headers=boulder.admin.headers,
        )
        assert left.status_code == 200, left.text
        gone = await http.post("/auth/agencies", json={"email": f"leaver-{suffix}@example.org"})
        assert gone.json() == {"agencies": []}


PUT_FIELDS = {"display_name", "email", "roles"}
