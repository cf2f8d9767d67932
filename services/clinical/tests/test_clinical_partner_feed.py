"""Research registries' session feed on the real servers: a signed dosing note publishes
one minimum-necessary RegistrySessionReported in the same write; other notes publish none;
nothing on the wire names the client, their record, the clinicians or the note's text."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

# The tests dir is not on mypy_path (root pyproject); pytest imports it (rootdir mode).
from clinical_testkit import (  # type: ignore[import-not-found]
    CLIENT,
    ClinicalHarness,
    clear_for_dosing,
    clinical,
    new_tenant,
    register,
)
from halcyon.shared.contracts.partner import RegistrySessionReported
from halcyon.shared.partners import pseudonym
from halcyon.shared.testing.plugin import eventually

pytestmark = pytest.mark.integration
__all__ = ["clinical"]

START = (datetime.now(UTC) - timedelta(days=14)).replace(hour=15, minute=0, microsecond=0)
NARRATIVE = "Participant spoke at length about the accident."
ADVERSE = "transient nausea after the booster"
OBSERVATION = "tearful, then calm"


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def dosing_note(started: datetime, *, supplemental: bool) -> dict[str, Any]:
    dosed = started + timedelta(minutes=15)
    return {
        "kind": "dosing",
        "site_id": "site-1",
        "template_id": "builtin:dosing",
        "started_at": iso(started),
        "ended_at": iso(started + timedelta(hours=8)),
        "clinicians": [
            {"staff_id": "ther-1", "role": "therapist", "monitoring_role": "first"},
            {"staff_id": "ther-2", "role": "therapist", "monitoring_role": "second"},
        ],
        "diagnoses": ["F43.10"],
        "content": {"narrative": NARRATIVE, "discharge_status": "oriented, calm"},
        "dosing": {
            "protocol_id": "mdma-ptsd",
            "medicine": "mdma",
            "dose_mg": 120,
            "administered_at": iso(dosed),
            "supplemental_dose": (
                {"dose_mg": 60, "administered_at": iso(dosed + timedelta(hours=2))}
                if supplemental
                else None
            ),
            "monitoring_log": [{"at": iso(dosed + timedelta(hours=1)), "observation": OBSERVATION}],
            "adverse_events": [
                {"description": ADVERSE, "severity": "mild", "onset_at": iso(dosed)},
                {"description": "headache", "severity": "moderate", "onset_at": iso(dosed)},
                {"description": "jaw tightness", "severity": "mild", "onset_at": iso(dosed)},
            ]
            if supplemental
            else [],
            "therapist_ids": ["ther-1", "ther-2"],
        },
    }


async def raw_records(
    h: ClinicalHarness, topic: str, until: Any, headers: list[set[str]] | None = None
) -> list[bytes]:
    """The topic's message values as bytes, from the start, once ``until(values)`` holds
    (and each record's header names in ``headers``, when given)."""
    consumer = AIOKafkaConsumer(
        h.topic(topic),
        bootstrap_servers=h.servers.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:

        async def more() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            values.extend(r.value for records in batch.values() for r in records)
            if headers is not None:
                headers.extend(
                    {name for name, _ in r.headers} for records in batch.values() for r in records
                )
            return bool(until(values))

        await eventually(more, within=60, interval=0, message=f"records on {topic}")
    finally:
        await consumer.stop()
    return values


async def test_signed_dosing_notes_reach_registries_as_counts_and_pseudonyms_only(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    await clear_for_dosing(clinical, tenant, client["id"])
    mrn = next(i["value"] for i in client["identifiers"] if i["system"] == "mrn")
    lead = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    supervisor = clinical.headers(tenant, "sup-1", ("site-1", "therapist"))
    secret = clinical.settings.field_encryption_key
    participant = pseudonym(secret, tenant, "registry", client["id"])

    async def write(body: dict[str, Any]) -> str:
        created = await clinical.http.post(
            f"/clients/{client['id']}/notes", json=body, headers=lead
        )
        assert created.status_code == 201, created.text
        note_id: str = created.json()["id"]
        return note_id

    async def relayed(note_id: str) -> None:
        async def drained() -> bool:
            pending = await clinical.database["notes"].find_one(
                {"_id": note_id, "_outbox_pending": True}
            )
            return pending is None

        await eventually(drained, message=f"note {note_id}'s events published")

    # A signed psychotherapy note: billing hears of it, registries do not.
    talk = await write(
        {
            "kind": "psychotherapy",
            "site_id": "site-1",
            "template_id": "builtin:progress-soap",
            "started_at": iso(START - timedelta(days=2)),
            "ended_at": iso(START - timedelta(days=2, minutes=-53)),
            "clinicians": [{"staff_id": "ther-1", "role": "therapist"}],
            "diagnoses": ["F43.10"],
            "psychotherapy_minutes": 53,
            "content": {"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"},
        }
    )
    assert (await clinical.http.post(f"/notes/{talk}/sign", json={}, headers=lead)).is_success
    await relayed(talk)

    # First dosing session: a supplemental dose, three adverse events, one vitals alert.
    first = await write(dosing_note(START, supplemental=True))
    for pulse in (88, 131):  # MDMA protocol: pulse above 110/min is an alert
        reading = await clinical.http.post(
            f"/clients/{client['id']}/vitals",
            json={
                "protocol_id": "mdma-ptsd",
                "site_id": "site-1",
                "encounter_id": first,
                "measured_at": iso(START + timedelta(hours=1)),
                "pulse_per_min": pulse,
            },
            headers=lead,
        )
        assert reading.status_code == 201, reading.text
    assert (await clinical.http.post(f"/notes/{first}/sign", json={}, headers=lead)).is_success

    # Second session, a week later, by a supervised clinician: reported on co-signature.
    second = await write(dosing_note(START + timedelta(days=7), supplemental=False))
    signed = await clinical.http.post(
        f"/notes/{second}/sign", json={"supervisor_id": "sup-1"}, headers=lead
    )
    assert signed.json()["status"] == "awaiting_cosign"
    await relayed(second)
    cosigned = await clinical.http.post(f"/notes/{second}/cosign", headers=supervisor)
    assert cosigned.status_code == 200, cosigned.text

    def report_id(note_id: str) -> str:
        return pseudonym(secret, tenant, "registry", f"session:{note_id}")

    def mine(values: list[bytes]) -> list[dict[str, Any]]:
        envelopes = [json.loads(v) for v in values]
        return [e for e in envelopes if e["data"]["participant"] == participant]

    header_names: list[set[str]] = []
    raw = await raw_records(
        clinical,
        RegistrySessionReported.topic,
        until=lambda values: report_id(second) in {e["subject"] for e in mine(values)},
        headers=header_names,
    )
    # Only the documented CloudEvents headers: no internal trace or correlation ids.
    assert header_names
    assert all(
        names == {"content-type", "ce_id", "ce_type", "ce_tenantid"} for names in header_names
    ), header_names
    reports = mine(raw)
    # Exactly one per dosing note, none for the psychotherapy note nor at the intern's
    # signature (both were published before the later reports on this one partition).
    assert [e["subject"] for e in reports] == [report_id(first), report_id(second)]
    assert {e["type"] for e in reports} == {RegistrySessionReported.event_type}
    assert [e["data"] for e in reports] == [
        {
            "report_id": report_id(first),
            "participant": participant,
            "protocol_id": "mdma-ptsd",
            "session_on": START.date().isoformat(),  # the site has no time zone: UTC
            "session_number": 1,
            "duration_minutes": 480,
            "adverse_events": {"mild": 2, "moderate": 1, "severe": 0, "life_threatening": 0},
            "vitals_alerts": 1,
            "supplemental_dose_given": True,
        },
        {
            "report_id": report_id(second),
            "participant": participant,
            "protocol_id": "mdma-ptsd",
            "session_on": (START + timedelta(days=7)).date().isoformat(),
            "session_number": 2,
            "duration_minutes": 480,
            "adverse_events": {"mild": 0, "moderate": 0, "severe": 0, "life_threatening": 0},
            "vitals_alerts": 0,
            "supplemental_dose_given": False,
        },
    ]
    # The bytes on the wire, envelope included, identify no one and quote nothing.
    wire = b"".join(v for v in raw if participant.encode() in v).decode()
    forbidden = [
        CLIENT["given_name"],
        CLIENT["family_name"],
        CLIENT["date_of_birth"],
        mrn,
        client["id"],
        first,
        second,
        "ther-1",
        "ther-2",
        "sup-1",
        NARRATIVE,
        ADVERSE,
        OBSERVATION,
        iso(START),  # no exact times either
        iso(START + timedelta(minutes=15)),
    ]
    assert [value for value in forbidden if value in wire] == []
