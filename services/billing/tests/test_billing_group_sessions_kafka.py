"""Clinical and billing as processes on the real servers: a signed group note with two
members present and one absent becomes exactly two 90853 charges (ADR 0306)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.tokens import TestTokenIssuer

from tests.fixtures import StartService

pytestmark = pytest.mark.integration

START = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


async def test_group_note_bills_90853_once_per_member_present(
    start_service: StartService, token_issuer: TestTokenIssuer, unique: str
) -> None:
    clinical = start_service("clinical")
    billing = start_service("billing")
    tenant = f"agency-{unique}"
    desk = token_issuer.headers(
        tenant_id=tenant, user_id="desk-1", roles=[("site-1", "front_desk")]
    )
    therapist = token_issuer.headers(
        tenant_id=tenant, user_id="ther-1", roles=[("site-1", "therapist")]
    )
    biller = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "biller")])
    async with httpx.AsyncClient(base_url=billing.url, headers=biller, timeout=60) as http:
        fee = await http.post(
            "/fee-schedules",
            json={
                "site_id": "site-1",
                "payer": "self-pay",
                "cpt": "90853",
                "rate_cents": 4500,
                "starts_on": "2026-01-01",
            },
        )
        assert fee.status_code == 201, fee.text
    async with httpx.AsyncClient(base_url=clinical.url, timeout=60) as http:
        ids = []
        for given in ("Ada", "Bob", "Cyd"):
            registered = await http.post(
                "/clients",
                json={
                    "given_name": given,
                    "family_name": "Groupmember",
                    "date_of_birth": "1980-01-01",
                    "home_site_id": "site-1",
                },
                headers=desk,
            )
            assert registered.status_code == 201, registered.text
            ids.append(registered.json()["id"])
        attendance = ("present", "present", "absent")
        note = {
            "site_id": "site-1",
            "started_at": START.isoformat(),
            "ended_at": (START + timedelta(minutes=60)).isoformat(),
            "clinicians": [{"staff_id": "ther-1", "role": "therapist"}],
            "shared_section": "Relapse-prevention skills.",
            "members": [
                {"client_id": i, "attendance": a, "diagnoses": ["F43.10"]}
                for i, a in zip(ids, attendance, strict=True)
            ],
        }
        created = await http.post("/group-sessions", json=note, headers=therapist)
        assert created.status_code == 201, created.text
        signed = await http.post(f"/group-sessions/{created.json()['id']}/sign", headers=therapist)
        assert signed.status_code == 200, signed.text

    async with httpx.AsyncClient(base_url=billing.url, headers=biller, timeout=60) as http:

        async def charges(client_id: str) -> list[dict[str, Any]]:
            response = await http.get(f"/clients/{client_id}/charges")
            if response.status_code != 200:
                return []
            items: list[dict[str, Any]] = response.json()["items"]
            return items

        async def both_charged() -> bool:
            return all([await charges(ids[0]), await charges(ids[1])])

        await eventually(both_charged, within=90, message="90853 charges captured")
        for client_id in ids[:2]:
            [charge] = await charges(client_id)
            assert (charge["cpt"], charge["units"], charge["amount_cents"]) == ("90853", 1, 4500)
            assert charge["status"] == "open", charge
        # The absent member: nothing, even after the others' charges were captured.
        absent = await http.get(f"/clients/{ids[2]}/charges")
        assert absent.status_code == 200
        assert absent.json()["items"] == []
