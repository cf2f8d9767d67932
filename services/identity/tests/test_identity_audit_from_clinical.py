"""A read of a client's record in clinical (its own process) lands in identity's audit log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from halcyon.shared.testing.plugin import eventually

from services.identity.tests.identity_testkit import (
    SITE,
    add_staff,
    create_agency,
    start_identity,
)
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_compliance_finds_clinicals_read_of_a_client(start_service: StartService) -> None:
    identity = start_identity(start_service)
    # Clinical verifies identity's tokens through the JWKS, on the same topic prefix.
    clinical = start_service(
        "clinical",
        HALCYON_JWKS_URL=f"{identity.url}/.well-known/jwks.json",
        HALCYON_JWT_PUBLIC_KEY="",
    )
    async with (
        httpx.AsyncClient(base_url=identity.url, timeout=30) as http,
        httpx.AsyncClient(base_url=clinical.url, timeout=30) as chart,
    ):
        agency = await create_agency(http)
        site = (await http.post("/sites", json=SITE, headers=agency.admin.headers)).json()["id"]
        desk = await add_staff(http, agency, "front_desk", site)
        compliance = await add_staff(http, agency, "compliance_officer")
        registered = await chart.post(
            "/clients",
            json={
                "given_name": "Grace",
                "family_name": "Hopper",
                "date_of_birth": "1985-12-09",
                "home_site_id": site,
            },
            headers=desk.headers,
        )
        assert registered.status_code == 201, registered.text
        client_id = registered.json()["id"]
        read = await chart.get(f"/clients/{client_id}", headers=desk.headers)
        assert read.status_code == 200, read.text

        async def clinical_reads() -> list[dict[str, Any]] | None:
            found = await http.get(
                "/audit/access", params={"client_id": client_id}, headers=compliance.headers
            )
            assert found.status_code == 200, found.text
            reads = [
                e
                for e in found.json()["items"]
                if e["service"] == "clinical" and e["action"] == "read"
            ]
            return reads or None

        reads = await eventually(clinical_reads, message="clinical's read in identity's log")
        assert reads[0]["user_id"] == desk.id
        assert reads[0]["outcome"] == "success"
        assert reads[0]["site_id"] == site
