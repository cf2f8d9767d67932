from __future__ import annotations

from datetime import date, datetime

import pytest
from halcyon.shared.contracts import UnknownEventType, contract_for
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.settings import ServiceSettings
from pydantic import ValidationError


def sample() -> ClientRegistered:
    return ClientRegistered(
        client_id="c1",
        home_site_id="s1",
        given_name="A",
        family_name="B",
        date_of_birth=date(1990, 1, 1),
    )


def test_envelope_carries_cloudevents_attributes_and_round_trips() -> None:
    envelope = EventEnvelope.wrap(sample(), source="/halcyon/clinical", tenant_id="agency-a")
    assert envelope.specversion == "1.0"
    assert envelope.type == "halcyon.clinical.client.registered.v1"
    assert envelope.subject == "c1"
    assert envelope.correlationid == envelope.id  # a new story starts with this event
    assert envelope.id[14] == "7"  # UUIDv7
    again = EventEnvelope.from_bytes(envelope.to_bytes())
    assert again == envelope
    assert again.contract() == sample()


def test_event_ids_sort_by_creation() -> None:
    ids = [EventEnvelope.wrap(sample(), source="/x", tenant_id="t").id for _ in range(50)]
    assert ids == sorted(ids)


def test_envelope_refuses_naive_time_and_bad_type() -> None:
    base = EventEnvelope.wrap(sample(), source="/x", tenant_id="t").model_dump()
    with pytest.raises(ValidationError):
        EventEnvelope.model_validate({**base, "time": datetime(2026, 1, 1)})
    with pytest.raises(ValidationError):
        EventEnvelope.model_validate({**base, "type": "ClientRegistered"})
    with pytest.raises(ValidationError):
        EventEnvelope.model_validate({**base, "tenantid": ""})


def test_unknown_event_type_is_an_error() -> None:
    with pytest.raises(UnknownEventType):
        contract_for("halcyon.nobody.thing.happened.v1")


def test_production_refuses_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALCYON_ENVIRONMENT", "production")
    monkeypatch.delenv("HALCYON_FIELD_ENCRYPTION_KEY", raising=False)
    with pytest.raises(ValidationError, match="development default"):
        ServiceSettings()
    monkeypatch.setenv("HALCYON_FIELD_ENCRYPTION_KEY", "a-real-secret-from-the-vault")
    assert ServiceSettings(service_name="clinical").database_name == "halcyon_clinical"


def test_consumers_fetch_wait_is_short_and_set_platform_wide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # aiokafka's 500 ms default held an event behind its partition's previous fetch.
    monkeypatch.delenv("HALCYON_CONSUMER_FETCH_MAX_WAIT_MS", raising=False)
    assert ServiceSettings().consumer_fetch_max_wait_ms == 50
    monkeypatch.setenv("HALCYON_CONSUMER_FETCH_MAX_WAIT_MS", "20")
    assert ServiceSettings().consumer_fetch_max_wait_ms == 20
