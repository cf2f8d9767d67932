"""Helpers for billing's integration tests (not a conftest: plain functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from halcyon.shared.contracts import EventContract
from halcyon.shared.contracts.clinical import ClientRegistered, EncounterClinician, EncounterSigned
from halcyon.shared.envelope import EventEnvelope


async def publish(
    bootstrap: str, topic: str, *envelopes: EventEnvelope, key: str | None = None
) -> None:
    """Publish raw envelopes, keyed by subject; one ``key`` for all keeps them in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for envelope in envelopes:
            partition_key = (key or envelope.subject).encode()
            await producer.send_and_wait(topic, envelope.to_bytes(), key=partition_key)
    finally:
        await producer.stop()


def wrap(contract: EventContract, tenant: str) -> EventEnvelope:
    return EventEnvelope.wrap(contract, source="/halcyon/clinical", tenant_id=tenant)


def client_registered(client_id: str, site: str = "site-1") -> ClientRegistered:
    return ClientRegistered(
        client_id=client_id,
        home_site_id=site,
        given_name="Ada",
        family_name="Byron",
        date_of_birth=date(1990, 1, 2),
    )


def dosing_signed(encounter_id: str, client_id: str, **changes: Any) -> EncounterSigned:
    fields: dict[str, Any] = {
        "encounter_id": encounter_id,
        "client_id": client_id,
        "site_id": "site-1",
        "kind": "dosing",
        "service_date": date(2026, 11, 2),
        "started_at": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        "ended_at": datetime(2026, 11, 2, 17, 0, tzinfo=UTC),
        "monitoring_minutes": 480,
        "clinicians": [
            EncounterClinician(
                staff_id="md-1", role="prescriber", npi="1003000126", monitoring_role="first"
            ),
            EncounterClinician(staff_id="rn-1", role="nurse", monitoring_role="staff"),
        ],
        "diagnoses": ["F43.10"],
        "place_of_service": "11",
        "signed_at": datetime(2026, 11, 2, 17, 30, tzinfo=UTC),
    }
    fields.update(changes)
    return EncounterSigned(**fields)


async def read_envelopes(
    bootstrap: str, topic: str, want: int, within: float = 90.0
) -> list[EventEnvelope]:
    """What a topic holds (from the beginning) once ``want`` events arrived or ``within``
    ran out, plus 1.5 s more: anything beyond ``want`` (a duplicate) must show up too."""
    from halcyon.shared.testing import topics

    return await topics.read_envelopes(
        bootstrap, topic, want, within=within, linger_ms=1500, required=False
    )
