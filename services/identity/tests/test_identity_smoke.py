"""Bootstrap an agency, add staff, sign in: the path every other test stands on."""

from __future__ import annotations

import httpx
import jwt
import pytest

from services.identity.tests.identity_testkit import SITE, add_staff, create_agency, start_identity
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_operator_bootstraps_an_agency_whose_admin_builds_it(
    start_service: StartService,
) -> None:
    identity = start_identity(start_service)
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        claims = jwt.decode(
            agency.admin.tokens["access_token"], options={"verify_signature": False}
        )
        assert claims["tid"] == agency.id
        assert claims["typ"] == "access"
        assert claims["roles"] == [{"site": "*", "role": "agency_admin"}]
        assert claims["iss"] == "halcyon-identity"
        assert claims["aud"] == "halcyon"
        assert claims["exp"] - claims["iat"] == 900
        site = await http.post("/sites", json=SITE, headers=agency.admin.headers)
        assert site.status_code == 201, site.text
        nurse = await add_staff(http, agency, "nurse", site.json()["id"])
        nurse_claims = jwt.decode(nurse.tokens["access_token"], options={"verify_signature": False})
        assert nurse_claims["mfa"] is True
        me = await http.get("/me", headers=nurse.headers)
        assert me.status_code == 200
        assert me.json()["mfa_enrolled"] is True
        assert "auth" not in me.json()
