"""The access audit log fed by another service, compliance queries, and break-the-glass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from halcyon.shared.testing.plugin import eventually

from services.identity.tests.identity_testkit import (
    SITE,
    add_staff,
    bearer,
    client_registered,
    create_agency,
    start_identity,
    start_service_verifying_with,
)
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_reads_in_another_service_reach_compliance_and_break_the_glass_is_reviewed(
    start_service: StartService,
) -> None:
    identity = start_identity(start_service)
    chart = start_service_verifying_with(start_service, identity)  # same topic prefix
    async with (
        httpx.AsyncClient(base_url=identity.url, timeout=30) as http,
        httpx.AsyncClient(base_url=chart.url, timeout=30) as remote,
    ):
        agency = await create_agency(http)
        site = (await http.post("/sites", json=SITE, headers=agency.admin.headers)).json()
        therapist = await add_staff(http, agency, "therapist")
        outsider = await add_staff(http, agency, "therapist", site["id"])  # not at "home"
        front_desk = await add_staff(http, agency, "front_desk")
        compliance = await add_staff(http, agency, "compliance_officer")

        read = await remote.get(
            "/clients/client-42", headers={**therapist.headers, "X-Request-ID": "req-42"}
        )
        assert read.status_code == 200

        async def entries(**params: Any) -> list[dict[str, Any]]:
            found = await http.get("/audit/access", params=params, headers=compliance.headers)
            assert found.status_code == 200, found.text
            return list(found.json()["items"])

        async def the_read() -> list[dict[str, Any]]:
            return [e for e in await entries(client_id="client-42") if e["service"] == "chartprobe"]

        [entry] = await eventually(the_read, message="chartprobe's read reached identity")
        assert entry["user_id"] == therapist.id
        assert entry["action"] == "read"
        assert entry["outcome"] == "success"
        assert entry["request_id"] == "req-42"
        assert entry["roles"] == ["therapist"]
        assert entry["source_address"] == "127.0.0.1"
        by_user = await entries(user_id=therapist.id)
        assert any(e["audit_id"] == entry["audit_id"] for e in by_user)
        long_ago = datetime.now(UTC) - timedelta(days=1)
        assert await entries(client_id="client-42", to=long_ago.isoformat()) == []
        assert await entries(client_id="client-42", **{"from": long_ago.isoformat()})

        # Break-the-glass: refused without a (real) reason, nothing recorded.
        for body in [{"client_id": "client-77"}, {"client_id": "client-77", "reason": "urgent"}]:
            refused = await http.post("/break-the-glass", json=body, headers=outsider.headers)
            assert refused.status_code == 422, refused.text
        desk = await http.post(
            "/break-the-glass",
            json={"client_id": "client-77", "reason": "client collapsed in the waiting room"},
            headers=front_desk.headers,
        )
        # Emergency access is for clinicians: front desk is refused (and nothing granted).
        assert desk.status_code == 403, desk.text
        grants = await http.get("/break-the-glass", headers=compliance.headers)
        assert grants.json()["items"] == []

        assert (await remote.get("/clients/client-77", headers=outsider.headers)).status_code == 403
        reason = "client in acute crisis, covering for their therapist"
        # Not a client of this agency (yet): no grant.
        unknown = await http.post(
            "/break-the-glass",
            json={"client_id": "client-77", "reason": reason},
            headers=outsider.headers,
        )
        assert unknown.status_code == 422, unknown.text
        await client_registered(identity, agency.id, "client-77")

        async def emergency_grant() -> httpx.Response | None:
            response = await http.post(
                "/break-the-glass",
                json={"client_id": "client-77", "reason": reason},
                headers=outsider.headers,
            )
            return response if response.status_code == 201 else None

        granted = await eventually(emergency_grant, message="identity knows client-77")
        emergency = granted.json()["access_token"]
        claims = jwt.decode(emergency, options={"verify_signature": False})
        assert claims["btg"] == ["client-77"]
        assert claims["btg_reason"] == reason
        assert claims["exp"] - claims["iat"] == 1800
        assert (
            await remote.get("/clients/client-77", headers=bearer(emergency))
        ).status_code == 200
        # ... only for that client
        assert (
            await remote.get("/clients/client-78", headers=bearer(emergency))
        ).status_code == 403

        async def emergency_trail() -> list[dict[str, Any]] | None:
            found = await entries(client_id="client-77")
            kinds = {(e["service"], e["action"], e["outcome"], e["break_the_glass"]) for e in found}
            wanted = {
                ("chartprobe", "read", "denied", False),
                ("identity", "break_the_glass", "success", False),
                ("chartprobe", "read", "success", True),
            }
            return found if wanted <= kinds else None

        trail = await eventually(emergency_trail, message="the emergency access trail")
        grant_entry = next(e for e in trail if e["action"] == "break_the_glass")
        assert grant_entry["reason"] == reason
        assert grant_entry["user_id"] == outsider.id
        flagged = await entries(break_the_glass="true")
        assert {e["client_id"] for e in flagged} == {"client-77"}
        [emergency_read] = flagged
        assert emergency_read["grant_id"] == granted.json()["grant_id"]
        assert emergency_read["break_the_glass_reason"] == reason

        # Compliance reviews the grant, once.
        pending = await http.get("/break-the-glass?reviewed=false", headers=compliance.headers)
        [grant] = pending.json()["items"]
        assert grant["user_id"] == outsider.id
        assert grant["reason"] == reason
        review = {"note": "verified with the on-call psychiatrist"}
        done = await http.post(
            f"/break-the-glass/{grant['id']}/review", json=review, headers=compliance.headers
        )
        assert done.status_code == 200
        assert done.json()["reviewed"] is True
        again = await http.post(
            f"/break-the-glass/{grant['id']}/review", json=review, headers=compliance.headers
        )
        assert again.status_code == 409
        left = await http.get("/break-the-glass?reviewed=false", headers=compliance.headers)
        assert left.json()["items"] == []

        # Pagination over the log.
        first = await http.get("/audit/access?limit=1", headers=compliance.headers)
        assert len(first.json()["items"]) == 1
        assert first.json()["next_cursor"]
        second = await http.get(
            "/audit/access",
            params={"limit": 1, "cursor": first.json()["next_cursor"]},
            headers=compliance.headers,
        )
        assert second.json()["items"][0]["audit_id"] != first.json()["items"][0]["audit_id"]

        # Append-only: nobody deletes or edits an entry, not even compliance or the admin.
        for who in [compliance, agency.admin]:
            for method in ["DELETE", "PUT", "PATCH"]:
                attempt = await http.request(
                    method, f"/audit/access/{entry['audit_id']}", headers=who.headers
                )
                assert attempt.status_code == 405, attempt.text
                assert attempt.headers["content-type"] == "application/problem+json"
                assert attempt.json()["type"].endswith("/append-only")
            wipe = await http.delete("/audit/access", headers=who.headers)
            assert wipe.status_code == 405
        assert [e["audit_id"] for e in await the_read()] == [entry["audit_id"]]
