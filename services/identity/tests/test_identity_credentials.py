"""Personnel events and the credential-expiry warning, as other services read them from Kafka."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from halcyon.shared.testing.servers import Servers

from services.identity.tests.identity_testkit import (
    SITE,
    VALID_DEA,
    VALID_NPI,
    add_staff,
    create_agency,
    read_topic,
    start_identity,
)
from tests.fixtures import StartService

pytestmark = pytest.mark.integration


async def test_credential_expiring_is_published_once_per_credential(
    start_service: StartService, servers: Servers, topic_prefix: str
) -> None:
    # The "daily" job runs every second here; it is the same code the trigger endpoint runs.
    identity = start_identity(start_service, HALCYON_IDENTITY_CREDENTIAL_SCAN_INTERVAL_SECONDS="1")
    today = datetime.now(UTC).date()
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        site = (await http.post("/sites", json=SITE, headers=agency.admin.headers)).json()
        prescriber = await add_staff(
            http,
            agency,
            "prescriber",
            site["id"],
            sign_in_now=False,
            npi=VALID_NPI,
            licences=[
                {
                    "type": "MD",
                    "number": "DR-1",
                    "state": "CO",
                    "expires_on": str(today + timedelta(days=20)),
                }
            ],
            dea_registrations=[
                {
                    "number": VALID_DEA,
                    "schedules": ["II", "III"],
                    "expires_on": str(today + timedelta(days=100)),
                }
            ],
            authorised_prescriber_approvals=[
                {
                    "drug": "psilocybin",
                    "ethics_approval": "HREC-2026-7",
                    "expires_on": str(today + timedelta(days=10)),
                }
            ],
            credential_documents=[
                {"kind": "licence", "title": "CO medical licence", "file_ref": "docs/lic.pdf"}
            ],
            on_call_sites=[site["id"]],
        )
        first = await read_topic(
            servers.kafka_bootstrap, f"{topic_prefix}identity.credential.v1", want=2
        )
        warned = {e.data["credential_type"]: e.data for e in first}
        assert set(warned) == {"licence", "authorised_prescriber_approval"}
        assert warned["licence"]["days_left"] == 20
        assert warned["licence"]["staff_id"] == prescriber.id
        assert warned["authorised_prescriber_approval"]["identifier"] == "psilocybin HREC-2026-7"
        assert all(e.tenantid == agency.id for e in first)

        # Running again (by hand, or tomorrow) warns about nothing twice.
        again = await http.post("/credentials/expiry-scan", headers=agency.admin.headers)
        assert again.json() == {"queued": 0}
        later = str(today + timedelta(days=75))
        dea_due = await http.post(
            f"/credentials/expiry-scan?as_of={later}", headers=agency.admin.headers
        )
        assert dea_due.json() == {"queued": 1}
        repeat = await http.post(
            f"/credentials/expiry-scan?as_of={later}", headers=agency.admin.headers
        )
        assert repeat.json() == {"queued": 0}
        events = await read_topic(
            servers.kafka_bootstrap, f"{topic_prefix}identity.credential.v1", want=3
        )
        kinds = sorted(e.data["credential_type"] for e in events)
        assert kinds == ["authorised_prescriber_approval", "dea_registration", "licence"]
        assert events[-1].data["identifier"] == VALID_DEA
        assert events[-1].data["days_left"] == 25

        # The personnel file and the site went out as state-transfer events too.
        staff_events = await read_topic(
            servers.kafka_bootstrap, f"{topic_prefix}identity.staff.v1", want=2
        )
        file = next(e.data for e in staff_events if e.subject == prescriber.id)
        assert file["npi"] == VALID_NPI
        assert file["on_call_sites"] == [site["id"]]
        assert file["roles"] == [{"site": site["id"], "role": "prescriber"}]
        assert file["authorised_prescriber_approvals"][0]["drug"] == "psilocybin"
        [site_event] = await read_topic(
            servers.kafka_bootstrap, f"{topic_prefix}identity.site.v1", want=1
        )
        assert site_event.data["timezone"] == "America/Denver"
        assert site_event.data["dea_registrations"][0]["number"] == "BC7654329"


async def test_concurrent_scans_on_two_instances_warn_once(
    start_service: StartService, servers: Servers, topic_prefix: str
) -> None:
    first = start_identity(start_service)
    second = start_identity(start_service)  # same database, same topics: a second replica
    today = datetime.now(UTC).date()
    async with httpx.AsyncClient(base_url=first.url, timeout=60) as http:
        agency = await create_agency(http)
        await add_staff(
            http,
            agency,
            "therapist",
            sign_in_now=False,
            licences=[
                {
                    "type": "LCSW",
                    "number": "C-9",
                    "state": "CO",
                    "expires_on": str(today + timedelta(days=5)),
                }
            ],
        )
        scans = [
            http.post(f"{url}/credentials/expiry-scan", headers=agency.admin.headers)
            for url in [first.url, second.url] * 4
        ]
        results = await asyncio.gather(*scans)
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert sum(r.json()["queued"] for r in results) == 1
    [event] = await read_topic(
        servers.kafka_bootstrap, f"{topic_prefix}identity.credential.v1", want=1
    )
    assert event.data["identifier"] == "LCSW CO C-9"
    assert event.data["days_left"] == 5
