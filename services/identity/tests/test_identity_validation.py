"""Bad input is refused before anything is written; admins act only where they administer;
the audit log keeps everything (no expiry)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from halcyon.shared.mongo import Document
from pymongo import AsyncMongoClient

from services.identity.tests.identity_testkit import (
    PASSWORD,
    SITE,
    VALID_DEA,
    add_staff,
    create_agency,
    start_identity,
)
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


def _person(**overrides: Any) -> dict[str, Any]:
    return {
        "display_name": "Pat Doe",
        "email": f"pat-{uuid.uuid4().hex[:6]}@example.org",
        "roles": [{"site": "*", "role": "therapist"}],
        "initial_password": PASSWORD,
        **overrides,
    }


async def test_bad_input_is_refused_and_nothing_is_written(
    start_service: StartService, mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    identity = start_identity(start_service)
    database = mongo_client[f"t_{unique}_identity"]
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        admin_body = {"display_name": "A", "email": "a@example.org", "password": PASSWORD}
        sneaky = await http.post(
            "/agencies",
            json={"name": "X", "admin": admin_body},
            headers={"X-Platform-Operator-Secret": "guess"},
        )
        assert sneaky.status_code == 403
        weak = await http.post(
            "/agencies",
            json={"name": "X", "admin": {**admin_body, "password": "short"}},
            headers={"X-Platform-Operator-Secret": "development-only-secret-change-me"},
        )
        assert weak.status_code == 422
        assert await database["agencies"].count_documents({}) == 0
        assert await database["staff"].count_documents({}) == 0

        agency = await create_agency(http)
        headers = agency.admin.headers
        for bad_site in [
            {**SITE, "timezone": "Mountain Time"},
            {**SITE, "address": {"line1": "x"}},
            {
                **SITE,
                "dea_registrations": [
                    {"number": "AB1234564", "schedules": ["II"], "expires_on": "2030-01-01"}
                ],
            },
            {
                **SITE,
                "dea_registrations": [
                    {"number": VALID_DEA, "schedules": ["VII"], "expires_on": "2030-01-01"}
                ],
            },
            {**SITE, "owner": "me"},
        ]:
            refused = await http.post("/sites", json=bad_site, headers=headers)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
        assert await database["sites"].count_documents({}) == 0

        for bad_person in [
            _person(npi="1234567890"),
            _person(roles=[{"site": "*", "role": "superuser"}]),
            _person(roles=[]),
            _person(initial_password="short"),
            _person(roles=[{"site": "no-such-site", "role": "therapist"}]),
            _person(supervisor_id="no-such-person"),
            _person(licences=[{"type": "MD", "number": "1", "state": "CO"}]),
            _person(email="not-an-email"),
            _person(is_admin=True),
        ]:
            refused = await http.post("/staff", json=bad_person, headers=headers)
            assert refused.status_code == 422, (bad_person, refused.text)
        assert await database["staff"].count_documents({}) == 1  # only the admin
        twin = _person(email=agency.admin.email)
        assert (await http.post("/staff", json=twin, headers=headers)).status_code == 409

        # Append-only by construction, and kept: no index on the audit log expires entries
        # (HIPAA 45 CFR 164.316(b)(2) retention, at least six years).
        indexes = [i async for i in await database["access_audit"].list_indexes()]
        assert len(indexes) > 1  # identity created its query indexes...
        for index in indexes:
            assert "expireAfterSeconds" not in index, index  # ...none of them a TTL


async def test_a_site_admin_manages_only_their_site(start_service: StartService) -> None:
    identity = start_identity(start_service)
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        mine = (await http.post("/sites", json=SITE, headers=agency.admin.headers)).json()["id"]
        other = (await http.post("/sites", json=SITE, headers=agency.admin.headers)).json()["id"]
        retry = {**agency.admin.headers, "Idempotency-Key": "new-site-1"}
        once = await http.post("/sites", json=SITE, headers=retry)
        twice = await http.post("/sites", json=SITE, headers=retry)
        assert once.status_code == twice.status_code == 201
        assert once.json()["id"] == twice.json()["id"]  # a retried POST creates nothing twice
        site_admin = await add_staff(http, agency, "agency_admin", mine)
        h = site_admin.headers
        at = {"roles": [{"site": mine, "role": "therapist"}]}
        assert (await http.post("/staff", json=_person(**at), headers=h)).status_code == 201
        elsewhere = _person(roles=[{"site": other, "role": "therapist"}])
        assert (await http.post("/staff", json=elsewhere, headers=h)).status_code == 403
        everywhere = _person(roles=[{"site": "*", "role": "agency_admin"}])
        assert (await http.post("/staff", json=everywhere, headers=h)).status_code == 403
        assert (await http.post("/sites", json=SITE, headers=h)).status_code == 403
        assert (await http.put(f"/sites/{mine}", json=SITE, headers=h)).status_code == 200
        assert (await http.put(f"/sites/{other}", json=SITE, headers=h)).status_code == 403
