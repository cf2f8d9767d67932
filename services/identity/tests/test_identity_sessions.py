"""Sign-in as people experience it: MFA, lockout (and its audit trail), refresh, sign-out, reset."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import jwt
import pytest
from halcyon.shared.second_factor import SECOND_FACTOR_ROLES
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.processes import free_port

from services.identity.tests.identity_testkit import (
    OPERATOR,
    PASSWORD,
    add_staff,
    bearer,
    create_agency,
    enrol_totp,
    otp_now,
    sign_in,
    start_identity,
)
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def test_mfa_is_enforced_for_every_role(start_service: StartService) -> None:
    """Every role reads client records, so every role signs in with a second factor
    (HIPAA 164.312(d), ADR 0103): front desk, billers and admins included."""
    identity = start_identity(start_service)
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        roles = sorted(SECOND_FACTOR_ROLES)
        assert {"front_desk", "biller", "agency_admin", "therapist"} <= set(roles)
        for role in roles:
            member = await add_staff(http, agency, role, sign_in_now=False)
            not_enrolled = await sign_in(http, member)
            assert not_enrolled.status_code == 403, (role, not_enrolled.text)
            assert not_enrolled.json()["mfa_enrolment_required"] is True
            secret = await enrol_totp(http, member)
            no_code = await sign_in(http, member, otp="")
            assert no_code.status_code == 401
            assert no_code.json()["type"].endswith("/mfa-required")
            wrong = "000000" if otp_now(secret) != "000000" else "111111"
            assert (await sign_in(http, member, otp=wrong)).status_code == 401
            code = otp_now(secret)
            signed = await sign_in(http, member, otp=code)
            assert signed.status_code == 200, signed.text
            assert _claims(signed.json()["access_token"])["mfa"] is True
            assert _claims(signed.json()["access_token"])["amr"] == ["pwd", "otp"]
            replayed = await sign_in(http, member, otp=code)
            assert replayed.status_code == 401, "a used one-time code must not work twice"


async def test_parallel_code_guesses_get_no_more_tries_than_the_lockout_allows(
    start_service: StartService,
) -> None:
    """Someone who has the password and fires many sign-ins at once gets at most the
    policy's number of codes checked; the rest, and then the right code, meet the lock."""
    identity = start_identity(start_service, HALCYON_IDENTITY_LOCKOUT_MAX_FAILURES="3")
    async with httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
        agency = await create_agency(http)
        desk = await add_staff(http, agency, "front_desk")  # enrolled, signed in once
        right = await desk.fresh_otp()
        guesses = [f"{n:06d}" for n in range(12) if f"{n:06d}" != right]
        answers = await asyncio.gather(*[sign_in(http, desk, otp=guess) for guess in guesses[:10]])
        statuses = sorted(a.status_code for a in answers)
        checked = statuses.count(401)
        assert checked <= 3, statuses
        assert set(statuses) <= {401, 423}, statuses
        locked = await sign_in(http, desk, otp=right)
        assert locked.status_code == 423, locked.text


async def test_lockout_after_repeated_failures_is_audited(start_service: StartService) -> None:
    identity = start_identity(start_service, HALCYON_IDENTITY_LOCKOUT_MAX_FAILURES="3")
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        compliance = await add_staff(http, agency, "compliance_officer")
        desk = await add_staff(http, agency, "front_desk", sign_in_now=False)
        for _ in range(3):
            wrong = await sign_in(http, desk, password="not the password at all")
            assert wrong.status_code == 401
        locked = await sign_in(http, desk)  # the right password, too late
        assert locked.status_code == 423, locked.text
        assert locked.json()["type"].endswith("/account-locked")
        file = await http.get(f"/staff/{desk.id}", headers=agency.admin.headers)
        assert file.json()["locked"] is True

        async def login_denials() -> list[dict[str, Any]] | None:
            found = await http.get(
                "/audit/access", params={"user_id": desk.id}, headers=compliance.headers
            )
            assert found.status_code == 200, found.text
            denied = [
                e
                for e in found.json()["items"]
                if e["action"] == "login" and e["outcome"] == "denied"
            ]
            return denied if len(denied) >= 4 else None

        denials = await eventually(login_denials, message="lockout in the access audit log")
        reasons = [d["reason"] for d in denials]
        assert any("locked after 3 failed attempts" in r for r in reasons), reasons
        assert "account locked" in reasons
        assert all(d["service"] == "identity" for d in denials)
        # An admin lifts the lock; the person gets in again.
        unlocked = await http.post(f"/staff/{desk.id}/unlock", headers=agency.admin.headers)
        assert unlocked.status_code == 204
        await enrol_totp(http, desk)  # every role signs in with a code (ADR 0103)
        assert (await sign_in(http, desk)).status_code == 200


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    start_service: StartService,
) -> None:
    identity = start_identity(start_service)
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        first = agency.admin.tokens["refresh_token"]
        rotated = await http.post("/auth/refresh", json={"refresh_token": first})
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()["refresh_token"]
        assert second != first
        assert (await http.get("/me", headers=bearer(rotated.json()["access_token"]))).is_success
        # The old one comes back (stolen, or replayed): refused, and the live one dies too.
        reused = await http.post("/auth/refresh", json={"refresh_token": first})
        assert reused.status_code == 401
        assert (await http.post("/auth/refresh", json={"refresh_token": second})).status_code == 401
        # Sign-out revokes a fresh session.
        session = (await sign_in(http, agency.admin)).json()
        out = await http.post("/auth/sign-out", json={"refresh_token": session["refresh_token"]})
        assert out.status_code == 204
        again = await http.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert again.status_code == 401
        garbage = await http.post("/auth/refresh", json={"refresh_token": "x" * 50})
        assert garbage.status_code == 401
        # The same token sent five times at once: exactly one request gets a new session.
        racing = (await sign_in(http, agency.admin)).json()["refresh_token"]
        answers = await asyncio.gather(
            *[http.post("/auth/refresh", json={"refresh_token": racing}) for _ in range(5)]
        )
        assert sorted(a.status_code for a in answers) == [200, 401, 401, 401, 401]


async def test_password_reset_token_works_once(start_service: StartService) -> None:
    smtp_port = free_port()
    sink = start_service(
        "devsmtp", app="halcyon.notifications.devsmtp:app", HALCYON_DEVSMTP_SMTP_PORT=str(smtp_port)
    )
    identity = start_identity(start_service, HALCYON_IDENTITY_SMTP_PORT=str(smtp_port))
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        desk = await add_staff(http, agency, "front_desk")
        unknown = await http.post(
            "/auth/password-reset", json={"agency_id": agency.id, "email": "nobody@example.org"}
        )
        assert unknown.status_code == 202
        asked = await http.post(
            "/auth/password-reset", json={"agency_id": agency.id, "email": desk.email}
        )
        assert asked.status_code == 202
        assert asked.json() == unknown.json()  # nothing tells which emails have accounts
        assert "reset_token" not in asked.text  # the token goes only to the mailbox

        async def reset_mail() -> list[dict[str, Any]]:
            async with httpx.AsyncClient(base_url=sink.url) as mailbox:
                found = await mailbox.get("/messages", params={"to": desk.email})
                return [m for m in found.json() if "Reset your Halcyon password" in m["subject"]]

        [mail] = await eventually(reset_mail, message="reset email in the mailbox")
        token = re.search(r"\?token=(\S+)", mail["text"]).group(1)  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=sink.url) as mailbox:
            others = await mailbox.get("/messages", params={"to": "nobody@example.org"})
        assert others.json() == []
        weak = await http.post(
            "/auth/password-reset/confirm", json={"reset_token": token, "new_password": "short"}
        )
        assert weak.status_code == 422  # and the token is not spent
        new_password = "a brand new passphrase"
        done = await http.post(
            "/auth/password-reset/confirm",
            json={"reset_token": token, "new_password": new_password},
        )
        assert done.status_code == 204, done.text
        twice = await http.post(
            "/auth/password-reset/confirm",
            json={"reset_token": token, "new_password": "yet another passphrase"},
        )
        assert twice.status_code == 401
        assert (await sign_in(http, desk, password=PASSWORD)).status_code == 401
        assert (await sign_in(http, desk, password=new_password)).status_code == 200
        # The sessions from before the reset are over.
        stale = await http.post(
            "/auth/refresh", json={"refresh_token": desk.tokens["refresh_token"]}
        )
        assert stale.status_code == 401


async def test_services_get_tokens_with_client_credentials(start_service: StartService) -> None:
    identity = start_identity(start_service)
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        refused = await http.post("/service-clients", json={"name": "notifications"})
        assert refused.status_code == 403
        made = await http.post("/service-clients", json={"name": "notifications"}, headers=OPERATOR)
        assert made.status_code == 201, made.text
        secret = made.json()["client_secret"]
        grant = {
            "grant_type": "client_credentials",
            "client_id": "notifications",
            "client_secret": secret,
            "tenant_id": agency.id,
        }
        issued = await http.post("/oauth/token", json=grant)
        assert issued.status_code == 200, issued.text
        claims = _claims(issued.json()["access_token"])
        assert claims["sub"] == "service:notifications"
        assert claims["roles"] == [{"site": "*", "role": "service"}]
        wrong = await http.post("/oauth/token", json={**grant, "client_secret": "nope"})
        assert wrong.status_code == 401
        # A service is not a person: no personnel file, no staff list.
        listing = await http.get("/staff", headers=bearer(issued.json()["access_token"]))
        assert listing.status_code == 403


async def test_leavers_lose_their_sessions_and_lost_authenticators_can_be_replaced(
    start_service: StartService,
) -> None:
    identity = start_identity(start_service)
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        nurse = await add_staff(http, agency, "nurse")
        reset = await http.post(f"/staff/{nurse.id}/mfa/reset", headers=agency.admin.headers)
        assert reset.status_code == 204
        assert (await sign_in(http, nurse)).status_code == 403  # must enrol again
        stale = await http.post(
            "/auth/refresh", json={"refresh_token": nurse.tokens["refresh_token"]}
        )
        assert stale.status_code == 401
        await enrol_totp(http, nurse)
        nurse.tokens = (await sign_in(http, nurse)).json()

        file = (await http.get(f"/staff/{nurse.id}", headers=agency.admin.headers)).json()
        leaving = {k: v for k, v in file.items() if k not in {"id", "mfa_enrolled", "locked"}}
        left = await http.put(
            f"/staff/{nurse.id}", json={**leaving, "active": False}, headers=agency.admin.headers
        )
        assert left.status_code == 200, left.text
        gone = await http.post(
            "/auth/refresh", json={"refresh_token": nurse.tokens["refresh_token"]}
        )
        assert gone.status_code == 401
        assert (await sign_in(http, nurse)).status_code == 401
