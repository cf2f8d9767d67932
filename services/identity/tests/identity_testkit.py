"""Helpers for identity's integration tests: bootstrap agencies, add staff, sign in (with TOTP)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
from aiokafka import AIOKafkaProducer
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.second_factor import SECOND_FACTOR_ROLES
from halcyon.shared.settings import DEVELOPMENT_SECRET
from halcyon.shared.testing.processes import ServiceProcess

from tests.fixtures import StartService

OPERATOR = {"X-Platform-Operator-Secret": DEVELOPMENT_SECRET}
PASSWORD = "correct horse battery staple"
MFA_ROLES = SECOND_FACTOR_ROLES  # every role (ADR 0103)
VALID_NPI = "1234567893"
VALID_DEA = "AB1234563"
SITE = {
    "name": "Boulder clinic",
    "timezone": "America/Denver",
    "address": {"line1": "1 Pearl St", "city": "Boulder", "region": "CO", "postal_code": "80302"},
    "dea_registrations": [
        {"number": "BC7654329", "schedules": ["II", "IIN", "III"], "expires_on": "2030-01-01"}
    ],
}


def start_identity(start_service: StartService, **env: str) -> ServiceProcess:
    return start_service(
        "identity", **{"HALCYON_IDENTITY_CREDENTIAL_SCAN_INTERVAL_SECONDS": "3600", **env}
    )


def start_service_verifying_with(
    start_service: StartService, identity: ServiceProcess
) -> ServiceProcess:
    """Another service as it runs in production: keys from identity's JWKS, no fixed PEM."""
    return start_service(
        "chartprobe",
        app="services.identity.tests.identity_chart_probe:app",
        HALCYON_JWKS_URL=f"{identity.url}/.well-known/jwks.json",
        HALCYON_JWT_PUBLIC_KEY="",
    )


async def client_registered(identity: ServiceProcess, tenant_id: str, client_id: str) -> None:
    """Clinical's event that a client was registered at the agency, as clinical sends it:
    identity grants break-the-glass only for clients of the caller's agency."""
    event = ClientRegistered(
        client_id=client_id,
        home_site_id="site-1",
        given_name="Robin",
        family_name="Client",
        date_of_birth="1980-02-03",
    )
    envelope = EventEnvelope.wrap(event, source="/halcyon/clinical", tenant_id=tenant_id)
    producer = AIOKafkaProducer(bootstrap_servers=identity.env["HALCYON_KAFKA_BOOTSTRAP"])
    await producer.start()
    try:
        await producer.send_and_wait(
            identity.env.get("HALCYON_TOPIC_PREFIX", "") + ClientRegistered.topic,
            envelope.to_bytes(),
            key=client_id.encode(),
        )
    finally:
        await producer.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def otp_now(secret: str) -> str:
    # One step ahead: within the accepted drift, and never the step enrolment just used.
    return pyotp.TOTP(secret).at(time.time() + 30)


@dataclass
class Member:
    id: str
    email: str
    role: str
    agency_id: str
    totp_secret: str | None = None
    tokens: dict[str, Any] = field(default_factory=dict)
    # Identity accepts only a step later than the last one used (no replay).
    last_step: int = -1

    async def fresh_otp(self) -> str:
        """A code one step either side of now, later than any this person gave; waits
        for the next step when both are spent (a third sign-in within 30 s)."""
        assert self.totp_secret is not None
        while True:
            now = time.time()
            for step in (int(now // 30), int(now // 30) + 1):
                if step > self.last_step:
                    self.last_step = step
                    return str(pyotp.TOTP(self.totp_secret).at(step * 30))
            await asyncio.sleep(30 - now % 30 + 0.5)

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens["access_token"])


@dataclass
class Agency:
    id: str
    admin: Member


async def create_agency(http: httpx.AsyncClient, name: str = "Agency") -> Agency:
    email = f"admin-{uuid.uuid4().hex[:6]}@example.org"
    response = await http.post(
        "/agencies",
        json={
            "name": name,
            "admin": {"display_name": "Ada Admin", "email": email, "password": PASSWORD},
        },
        headers=OPERATOR,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    admin = Member(body["admin_id"], email, "agency_admin", body["agency_id"])
    await enrol_totp(http, admin)  # admins read charts too: a second factor (ADR 0103)
    signed = await sign_in(http, admin)
    assert signed.status_code == 200, signed.text
    admin.tokens = signed.json()
    return Agency(body["agency_id"], admin)


async def sign_in(
    http: httpx.AsyncClient, member: Member, password: str = PASSWORD, otp: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {
        "agency_id": member.agency_id,
        "email": member.email,
        "password": password,
    }
    if otp is not None:
        body["otp_code"] = otp
    elif member.totp_secret:
        body["otp_code"] = await member.fresh_otp()
    return await http.post("/auth/sign-in", json=body)


async def enrol_totp(http: httpx.AsyncClient, member: Member) -> str:
    login = {"agency_id": member.agency_id, "email": member.email, "password": PASSWORD}
    started = await http.post("/auth/mfa/enrol", json=login)
    assert started.status_code == 200, started.text
    secret = str(started.json()["secret"])
    member.totp_secret, member.last_step = secret, -1
    confirmed = await http.post(
        "/auth/mfa/confirm", json={**login, "otp_code": await member.fresh_otp()}
    )
    assert confirmed.status_code == 204, confirmed.text
    return secret


async def add_staff(
    http: httpx.AsyncClient,
    agency: Agency,
    role: str,
    site: str = "*",
    *,
    sign_in_now: bool = True,
    **personnel: Any,
) -> Member:
    email = f"{role}-{uuid.uuid4().hex[:6]}@example.org"
    response = await http.post(
        "/staff",
        json={
            "display_name": f"{role.title()} Person",
            "email": email,
            "roles": [{"site": site, "role": role}],
            "initial_password": PASSWORD,
            **personnel,
        },
        headers=agency.admin.headers,
    )
    assert response.status_code == 201, response.text
    member = Member(response.json()["id"], email, role, agency.id)
    if sign_in_now:
        if role in MFA_ROLES:
            await enrol_totp(http, member)
        signed = await sign_in(http, member)
        assert signed.status_code == 200, signed.text
        member.tokens = signed.json()
    return member


async def read_topic(bootstrap: str, topic: str, want: int, within: float = 60.0) -> list[Any]:
    """Events on a Kafka topic (from the beginning), once at least ``want`` have arrived."""
    from halcyon.shared.testing.topics import read_envelopes

    return list(await read_envelopes(bootstrap, topic, want, within=within))
