"""Every door closed, on real servers (identity, clinical, the gateway, Kafka, FerretDB):

- every role signs in with a second factor (ADR 0103); a promotion ends the person's
  sessions; refresh is refused; the prescriber-only screening is refused with the old
  token and with a password alone, and allowed after a fresh sign-in with a code;
- after sign-out, deactivation or a role change the old access token gets 401 at the
  gateway and at clinical within about a second (ADR 0104);
- a tenant admin cannot rotate the signing key, and the gateway refuses operator paths
  even with the operator secret (ADR 0105).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest
from halcyon.shared.settings import DEVELOPMENT_SECRET
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.processes import ServiceProcess

from tests.fixtures import StartService

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
OPERATOR = {"X-Platform-Operator-Secret": DEVELOPMENT_SECRET}
SITE = {
    "name": "Boulder clinic",
    "timezone": "America/Denver",
    "address": {"line1": "1 Pearl St", "city": "Boulder", "region": "CO", "postal_code": "80302"},
}
HISTORY = {
    "screened_on": "2026-01-05",
    "systolic_bp": 120,
    "diastolic_bp": 80,
    "qtc_ms": 420,
    "diagnoses": ["F43.10"],
}
# "Within about a second": the revocation travels outbox -> Kafka -> every process.
AT_ONCE = 2.0


@dataclass
class Platform:
    identity: ServiceProcess
    clinical: ServiceProcess
    gateway: httpx.AsyncClient
    agency_id: str
    admin: dict[str, str]
    site_id: str
    authenticators: dict[str, Authenticator] = field(default_factory=dict)

    async def staff(self, role: str) -> tuple[str, str]:
        email = f"{role}-{uuid.uuid4().hex[:6]}@example.org"
        created = await self.gateway.post(
            "/api/identity/staff",
            json={
                "display_name": f"{role} person",
                "email": email,
                "roles": [{"site": self.site_id, "role": role}],
                "initial_password": PASSWORD,
            },
            headers=self.admin,
        )
        assert created.status_code == 201, created.text
        self.authenticators[email] = await enrol(self.gateway, self.agency_id, email)
        return created.json()["id"], email

    async def sign_in(self, email: str, *, password_only: bool = False) -> httpx.Response:
        body: dict[str, Any] = {"agency_id": self.agency_id, "email": email, "password": PASSWORD}
        if not password_only:
            body["otp_code"] = await self.authenticators[email].fresh_code()
        return await self.gateway.post("/api/identity/auth/sign-in", json=body)

    async def register_client(self, headers: dict[str, str]) -> str:
        created = await self.gateway.post(
            "/api/clinical/clients",
            json={
                "given_name": "Grace",
                "family_name": "Hopper",
                "date_of_birth": "1985-12-09",
                "home_site_id": self.site_id,
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    async def refused_everywhere_within(self, token: str, path: str) -> float:
        """Seconds until ``token`` gets 401 both at the gateway and straight at clinical."""
        started = time.monotonic()
        headers = bearer(token)
        async with httpx.AsyncClient(base_url=self.clinical.url) as direct:

            async def refused() -> bool:
                via_gateway = await self.gateway.get(f"/api/clinical{path}", headers=headers)
                at_service = await direct.get(path, headers=headers)
                return via_gateway.status_code == 401 and at_service.status_code == 401

            await eventually(refused, within=10.0, interval=0.05, message="token still works")
        return time.monotonic() - started


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Authenticator:
    """A person's TOTP app. Identity accepts one step either side of now and only a step
    later than the last one used (no replay), so a third code within 30 s waits."""

    secret: str
    last_step: int = -1

    async def fresh_code(self) -> str:
        while True:
            now = time.time()
            for step in (int(now // 30), int(now // 30) + 1):
                if step > self.last_step:
                    self.last_step = step
                    return str(pyotp.TOTP(self.secret).at(step * 30))
            await asyncio.sleep(30 - now % 30 + 0.5)


async def enrol(http: httpx.AsyncClient, agency_id: str, email: str) -> Authenticator:
    login = {"agency_id": agency_id, "email": email, "password": PASSWORD}
    started = await http.post("/api/identity/auth/mfa/enrol", json=login)
    assert started.status_code == 200, started.text
    app = Authenticator(str(started.json()["secret"]))
    code = await app.fresh_code()
    confirmed = await http.post("/api/identity/auth/mfa/confirm", json={**login, "otp_code": code})
    assert confirmed.status_code == 204, confirmed.text
    return app


@pytest.fixture
async def platform(start_service: StartService) -> Any:
    identity = start_service("identity", HALCYON_IDENTITY_CREDENTIAL_SCAN_INTERVAL_SECONDS="3600")
    jwks = f"{identity.url}/.well-known/jwks.json"
    clinical = start_service("clinical", HALCYON_JWKS_URL=jwks, HALCYON_JWT_PUBLIC_KEY="")
    gateway = start_service(
        "gateway",
        HALCYON_GATEWAY_UPSTREAMS=json.dumps({"identity": identity.url, "clinical": clinical.url}),
        HALCYON_JWT_PUBLIC_KEY="",
    )
    email = f"admin-{uuid.uuid4().hex[:6]}@example.org"
    async with httpx.AsyncClient(base_url=identity.url) as inside:
        created = await inside.post(
            "/agencies",
            json={
                "name": "Doors Agency",
                "admin": {"display_name": "Ada Admin", "email": email, "password": PASSWORD},
            },
            headers=OPERATOR,
        )
    assert created.status_code == 201, created.text
    agency_id = created.json()["agency_id"]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30.0) as http:
        app = await enrol(http, agency_id, email)  # admins too sign in with a code
        signed = await http.post(
            "/api/identity/auth/sign-in",
            json={
                "agency_id": agency_id,
                "email": email,
                "password": PASSWORD,
                "otp_code": await app.fresh_code(),
            },
        )
        assert signed.status_code == 200, signed.text
        admin = bearer(signed.json()["access_token"])
        site = await http.post("/api/identity/sites", json=SITE, headers=admin)
        assert site.status_code == 201, site.text
        yield Platform(identity, clinical, http, agency_id, admin, site.json()["id"])


async def test_a_promotion_needs_a_fresh_second_factor_before_prescribing(
    platform: Platform,
) -> None:
    sam_id, sam_email = await platform.staff("front_desk")
    # Front desk reads client records too: a password alone does not sign Sam in.
    password_only = await platform.sign_in(sam_email, password_only=True)
    assert password_only.status_code == 401, password_only.text
    assert password_only.json()["type"].endswith("/mfa-required")
    signed = await platform.sign_in(sam_email)
    assert signed.status_code == 200, signed.text
    old = signed.json()
    client_id = await platform.register_client(bearer(old["access_token"]))

    promoted = await platform.gateway.put(
        f"/api/identity/staff/{sam_id}",
        json={
            "display_name": "Sam Prescriber",
            "email": sam_email,
            "roles": [{"site": platform.site_id, "role": "prescriber"}],
        },
        headers=platform.admin,
    )
    assert promoted.status_code == 200, promoted.text

    # The session of the front-desk days is over: refresh is refused ...
    refreshed = await platform.gateway.post(
        "/api/identity/auth/refresh", json={"refresh_token": old["refresh_token"]}
    )
    assert refreshed.status_code == 401, refreshed.text
    # ... and the old access token stops at the gateway and at clinical.
    elapsed = await platform.refused_everywhere_within(old["access_token"], f"/clients/{client_id}")
    print(f"role change: refused everywhere after {elapsed:.3f}s")
    assert elapsed < AT_ONCE, f"old token still worked {elapsed:.2f}s after the role change"
    screening = f"/api/clinical/clients/{client_id}/screenings"
    body = {"protocol_id": "mdma-ptsd", "history": HISTORY}
    without = await platform.gateway.post(screening, json=body, headers=bearer(old["access_token"]))
    assert without.status_code == 401, without.text

    # A password alone still does not sign Sam in; a fresh code does, as a prescriber.
    password_only = await platform.sign_in(sam_email, password_only=True)
    assert password_only.status_code == 401, password_only.text
    fresh = await platform.sign_in(sam_email)
    assert fresh.status_code == 200, fresh.text
    allowed = await platform.gateway.post(
        screening, json=body, headers=bearer(fresh.json()["access_token"])
    )
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["signed_by"] == sam_id


async def test_sign_out_ends_the_access_token_at_once(platform: Platform) -> None:
    _, email = await platform.staff("front_desk")
    tokens = (await platform.sign_in(email)).json()
    client_id = await platform.register_client(bearer(tokens["access_token"]))
    path = f"/clients/{client_id}"
    works = await platform.gateway.get(
        f"/api/clinical{path}", headers=bearer(tokens["access_token"])
    )
    assert works.status_code == 200, works.text
    signed_out = await platform.gateway.post(
        "/api/identity/auth/sign-out", json={"refresh_token": tokens["refresh_token"]}
    )
    assert signed_out.status_code == 204, signed_out.text
    elapsed = await platform.refused_everywhere_within(tokens["access_token"], path)
    print(f"sign-out: refused everywhere after {elapsed:.3f}s")
    assert elapsed < AT_ONCE, f"token still worked {elapsed:.2f}s after sign-out"
    # Another session of the same person is untouched.
    again = (await platform.sign_in(email)).json()
    still = await platform.gateway.get(
        f"/api/clinical{path}", headers=bearer(again["access_token"])
    )
    assert still.status_code == 200, still.text


async def test_deactivation_ends_the_access_token_at_once(platform: Platform) -> None:
    staff_id, email = await platform.staff("front_desk")
    tokens = (await platform.sign_in(email)).json()
    client_id = await platform.register_client(bearer(tokens["access_token"]))
    deactivated = await platform.gateway.put(
        f"/api/identity/staff/{staff_id}",
        json={
            "display_name": "Gone",
            "email": email,
            "roles": [{"site": platform.site_id, "role": "front_desk"}],
            "active": False,
        },
        headers=platform.admin,
    )
    assert deactivated.status_code == 200, deactivated.text
    elapsed = await platform.refused_everywhere_within(
        tokens["access_token"], f"/clients/{client_id}"
    )
    print(f"deactivation: refused everywhere after {elapsed:.3f}s")
    assert elapsed < AT_ONCE, f"token still worked {elapsed:.2f}s after deactivation"


async def test_a_tenant_admin_is_not_the_platform_operator(platform: Platform) -> None:
    http = platform.gateway
    # Through the public entry, operator paths do not exist, secret or not.
    for path, body in [
        ("/api/identity/signing-keys/rotate", None),
        ("/api/identity/agencies", {"name": "x", "admin": {}}),
        ("/api/identity/service-clients", {"name": "billing-bot"}),
        ("/api/identity/oauth/token", {"grant_type": "client_credentials"}),
        ("/api/identity//Agencies/", {"name": "x", "admin": {}}),
    ]:
        refused = await http.post(path, json=body, headers={**platform.admin, **OPERATOR})
        assert refused.status_code == 404, (path, refused.text)
    # An agency admin is no compliance officer: the audit log is not theirs to read.
    audit = await http.get("/api/identity/audit/access", headers=platform.admin)
    assert audit.status_code == 403, audit.text
    async with httpx.AsyncClient(base_url=platform.identity.url) as inside:
        # Straight at identity, an agency admin's token is no operator credential.
        as_admin = await inside.post("/signing-keys/rotate", headers=platform.admin)
        assert as_admin.status_code == 403, as_admin.text
        as_operator = await inside.post("/signing-keys/rotate", headers=OPERATOR)
        assert as_operator.status_code == 200, as_operator.text
