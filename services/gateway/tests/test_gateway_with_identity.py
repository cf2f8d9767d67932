"""End to end through the one public entry, with the real identity service: sign in
without a token, then reach clinical with the token identity issued, every service
verifying it against identity's JWKS."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import httpx
import pyotp
import pytest
from halcyon.shared.settings import DEVELOPMENT_SECRET
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import repo_root

from tests.fixtures import StartService

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
# uvicorn believes X-Forwarded-For from 127.0.0.1 by default; a gateway faces the internet.
FACES_THE_INTERNET = {"FORWARDED_ALLOW_IPS": "192.0.2.1"}


def _pythonpath() -> str:
    # The caller's PYTHONPATH first: lets a run pin the services' sources.
    return os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(repo_root())) if p)


def _refs(node: Any) -> list[tuple[str, str]]:
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key == "$ref":
                _, _, kind, name = value.split("/", 3)
                found.append((kind, name))
            else:
                found.extend(_refs(value))
        return found
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


async def test_sign_in_through_the_gateway_then_use_the_token_at_clinical(
    start_service: StartService,
) -> None:
    path = _pythonpath()
    identity = start_service(
        "identity", HALCYON_IDENTITY_CREDENTIAL_SCAN_INTERVAL_SECONDS="3600", PYTHONPATH=path
    )
    jwks = f"{identity.url}/.well-known/jwks.json"
    clinical = start_service(
        "clinical", HALCYON_JWKS_URL=jwks, HALCYON_JWT_PUBLIC_KEY="", PYTHONPATH=path
    )
    gateway = start_service(
        "gateway",
        # No JWKS URL given: the gateway takes identity's from its upstreams.
        HALCYON_GATEWAY_UPSTREAMS=json.dumps({"identity": identity.url, "clinical": clinical.url}),
        HALCYON_JWT_PUBLIC_KEY="",
        PYTHONPATH=path,
        # A first OpenAPI render of clinical takes over 2 s on a loaded 2-core machine.
        HALCYON_GATEWAY_READINESS_TIMEOUT_SECONDS="15",
        **FACES_THE_INTERNET,
    )
    email = f"admin-{uuid.uuid4().hex[:6]}@example.org"
    new_agency = {
        "name": "Gateway Agency",
        "admin": {"display_name": "Ada Admin", "email": email, "password": PASSWORD},
    }
    operator = {"X-Platform-Operator-Secret": DEVELOPMENT_SECRET}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30.0) as http:
        # Platform bootstrap does not exist on the public side, whatever secret is offered.
        refused = await http.post("/api/identity/agencies", json=new_agency, headers=operator)
        assert refused.status_code == 404, refused.text
        async with httpx.AsyncClient(base_url=identity.url) as inside:
            # The operator bootstraps from inside the cluster, straight at identity.
            created = await inside.post("/agencies", json=new_agency, headers=operator)
        assert created.status_code == 201, created.text
        agency_id = created.json()["agency_id"]

        # Every role, the admin's included, signs in with a second factor (ADR 0103).
        login = {"agency_id": agency_id, "email": email, "password": PASSWORD}
        enrolment = await http.post("/api/identity/auth/mfa/enrol", json=login)
        assert enrolment.status_code == 200, enrolment.text
        totp = pyotp.TOTP(enrolment.json()["secret"])
        confirmed = await http.post(
            "/api/identity/auth/mfa/confirm", json={**login, "otp_code": totp.now()}
        )
        assert confirmed.status_code == 204, confirmed.text
        signed = await http.post(
            "/api/identity/auth/sign-in",
            json={**login, "otp_code": totp.at(time.time() + 30)},
        )
        assert signed.status_code == 200, signed.text
        tokens = signed.json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}

        me = await http.get("/api/identity/me", headers=headers)
        assert me.status_code == 200, me.text
        site = await http.post(
            "/api/identity/sites",
            json={
                "name": "Pearl Street clinic",
                "timezone": "America/Denver",
                "address": {
                    "line1": "1 Pearl St", "city": "Boulder", "region": "CO",
                    "postal_code": "80302",
                },
            },
            headers=headers,
        )  # fmt: skip
        assert site.status_code == 201, site.text
        site_id = site.json()["id"]

        async def client_registered() -> httpx.Response | None:
            # Clinical accepts the site once identity's SiteCreated reached its read model.
            created = await http.post(
                "/api/clinical/clients",
                json={
                    "given_name": "Alexander",
                    "family_name": "Shulgin",
                    "date_of_birth": "1965-06-17",
                    "home_site_id": site_id,
                },
                headers=headers,
            )
            if created.status_code == 422 and "unknown-reference" in created.text:
                return None
            return created

        client = await eventually(client_registered, message="clinical never learnt the site")
        assert client.status_code == 201, client.text

        # Refresh and sign-out need no access token, only the refresh token.
        refreshed = await http.post(
            "/api/identity/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        signed_out = await http.post(
            "/api/identity/auth/sign-out",
            json={"refresh_token": refreshed.json()["refresh_token"]},
        )
        assert signed_out.status_code in (200, 204), signed_out.text

        # One document for both services, no schema of one overwriting the other's.
        document = (await http.get("/openapi.json")).json()
        assert document.get("x-halcyon-unavailable-services") is None
        sign_in = document["paths"]["/api/identity/auth/sign-in"]["post"]
        assert sign_in["security"] == []
        assert "security" not in document["paths"]["/api/clinical/clients"]["post"]
        schemas = document["components"]["schemas"]
        assert "identity.HTTPValidationError" in schemas
        assert "clinical.HTTPValidationError" in schemas
        for kind, name in _refs(document):
            assert name in document["components"][kind], (kind, name)

        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"clinical": "ok", "identity": "ok", "token-keys": "ok"}
