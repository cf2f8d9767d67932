"""The platform operator's actions answer only on identity's internal admin listener when
one is configured (ADR 0105); the public listener says they do not exist."""

from __future__ import annotations

import uuid

import httpx
import pytest
from halcyon.shared.testing.processes import free_port

from services.identity.tests.identity_testkit import OPERATOR, PASSWORD, start_identity
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_operator_paths_live_only_on_the_admin_listener(start_service: StartService) -> None:
    admin_port = free_port()
    identity = start_identity(start_service, HALCYON_IDENTITY_ADMIN_PORT=str(admin_port))
    email = f"admin-{uuid.uuid4().hex[:6]}@example.org"
    agency = {
        "name": "Listener Agency",
        "admin": {"display_name": "Ada Admin", "email": email, "password": PASSWORD},
    }
    async with (
        httpx.AsyncClient(base_url=identity.url, timeout=30) as public,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{admin_port}", timeout=30) as inside,
    ):
        for path, body in [
            ("/agencies", agency),
            ("/service-clients", {"name": "billing-bot"}),
            ("/signing-keys/rotate", None),
            ("/Agencies/", agency),
        ]:
            refused = await public.post(path, json=body, headers=OPERATOR)
            assert refused.status_code == 404, (path, refused.text)
        created = await inside.post("/agencies", json=agency, headers=OPERATOR)
        assert created.status_code == 201, created.text
        rotated = await inside.post("/signing-keys/rotate", headers=OPERATOR)
        assert rotated.status_code == 200, rotated.text
        # Tenant work stays on the public listener.
        signed = await public.post(
            "/auth/sign-in",
            json={"agency_id": created.json()["agency_id"], "email": email, "password": PASSWORD},
        )
        # The password is right; the new admin enrols an authenticator next (ADR 0103).
        assert signed.status_code == 403, signed.text
        assert signed.json()["mfa_enrolment_required"] is True
