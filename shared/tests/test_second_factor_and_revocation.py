"""Second factor through the token, and the revocation list every service keeps (ADR 0103,
0104): a promoted person's password-only token and a signed-out session are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from halcyon.shared.auth import Authenticator
from halcyon.shared.contracts.identity import AccessRevoked
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.problems import install_problem_handlers
from halcyon.shared.revocation import RevocationList
from halcyon.shared.testing.tokens import TestTokenIssuer


@pytest.fixture
def issuer() -> TestTokenIssuer:
    return TestTokenIssuer()


def _app(issuer: TestTokenIssuer) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.authenticator = Authenticator(
        audience="halcyon", issuer="halcyon-identity", public_key_pem=issuer.public_pem
    )
    app.state.revocations = RevocationList()
    open_router = APIRouter()
    chart = APIRouter(dependencies=[SecondFactor])

    @open_router.get("/sites")
    async def sites(caller: CurrentCaller) -> dict[str, str]:
        return {"user": caller.user_id}

    @chart.get("/chart")
    async def read_chart(caller: CurrentCaller) -> dict[str, str]:
        return {"ok": "yes"}

    app.include_router(open_router)
    app.include_router(chart)
    return app


async def _get(app: FastAPI, path: str, token: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get(path, headers={"Authorization": f"Bearer {token}"})


async def test_tokens_say_how_the_person_signed_in(issuer: TestTokenIssuer) -> None:
    verifier = Authenticator(
        audience="halcyon", issuer="halcyon-identity", public_key_pem=issuer.public_pem
    )
    with_code = await verifier.verify(issuer.mint(tenant_id="a", session_id="s-1"))
    password_only = await verifier.verify(issuer.mint(tenant_id="a", mfa=False))
    assert with_code.amr == ("pwd", "otp")
    assert with_code.has_second_factor
    assert with_code.session_id == "s-1"
    assert with_code.auth_time
    assert password_only.amr == ("pwd",)
    assert not password_only.has_second_factor


async def test_a_prescriber_without_a_second_factor_is_refused_everywhere(
    issuer: TestTokenIssuer,
) -> None:
    app = _app(issuer)
    token = issuer.mint(tenant_id="a", roles=[("s1", "prescriber")], mfa=False)
    refused = await _get(app, "/sites", token)
    assert refused.status_code == 401
    assert refused.json()["type"].endswith("/second-factor-required")
    allowed = await _get(app, "/sites", issuer.mint(tenant_id="a", roles=[("s1", "prescriber")]))
    assert allowed.status_code == 200


async def test_reading_the_chart_needs_a_second_factor_whatever_the_role(
    issuer: TestTokenIssuer,
) -> None:
    app = _app(issuer)
    admin_password_only = issuer.mint(tenant_id="a", roles=[("*", "agency_admin")], mfa=False)
    for path in ("/sites", "/chart"):  # every role reads client records (ADR 0103)
        refused = await _get(app, path, admin_password_only)
        assert refused.status_code == 401
        assert refused.json()["type"].endswith("/second-factor-required")
    # A token with no role, or a role nobody knows, is no way round it.
    for roles in ([], [("*", "Agency_Admin")], [("*", "janitor")]):
        odd = issuer.mint(tenant_id="a", roles=roles, mfa=False)
        for path in ("/sites", "/chart"):
            assert (await _get(app, path, odd)).status_code == 401, (roles, path)
    with_code = issuer.mint(tenant_id="a", roles=[("*", "agency_admin")])
    assert (await _get(app, "/chart", with_code)).status_code == 200


async def test_a_revoked_session_is_refused_until_its_tokens_would_have_expired(
    issuer: TestTokenIssuer,
) -> None:
    app = _app(issuer)
    revocations: RevocationList = app.state.revocations
    token = issuer.mint(tenant_id="a", session_id="family-1")
    other = issuer.mint(tenant_id="a", session_id="family-2")
    now = datetime.now(UTC)
    revocations.apply(
        AccessRevoked(
            user_id="u",
            session_ids=["family-1"],
            reason="signed_out",
            revoked_at=now,
            expires_at=now + timedelta(minutes=15),
        )
    )
    refused = await _get(app, "/sites", token)
    assert refused.status_code == 401
    assert refused.json()["type"].endswith("/token-revoked")
    assert (await _get(app, "/sites", other)).status_code == 200
    # Entries go when the tokens they stop would have expired anyway.
    later = (now + timedelta(minutes=16)).timestamp()
    revocations.apply(
        AccessRevoked(
            user_id="v",
            session_ids=["family-3"],
            reason="role_changed",
            revoked_at=now,
            expires_at=now + timedelta(minutes=30),
        ),
        now=later,
    )
    assert set(revocations.sessions) == {"family-3"}


def test_an_already_expired_revocation_is_ignored() -> None:
    revocations = RevocationList()
    past = datetime.now(UTC) - timedelta(hours=1)
    revocations.apply(
        AccessRevoked(
            user_id="u", session_ids=["s"], reason="signed_out", revoked_at=past, expires_at=past
        )
    )
    assert len(revocations) == 0
