"""The event envelope: CloudEvents 1.0 attributes plus tenant, correlation and causation.

Every event on every topic is one JSON envelope. ``data`` holds the contract
(a pydantic model from :mod:`halcyon.shared.contracts`); the envelope itself
never carries business fields so partners can route on it without parsing data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from halcyon.shared.contracts import EventContract, contract_for
from pydantic import BaseModel, ConfigDict, Field, field_validator
from uuid6 import uuid7


def new_event_id() -> str:
    # UUIDv7 sorts by creation time, which keeps dedupe indexes and logs in order.
    return str(uuid7())


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=new_event_id, min_length=1)
    source: str = Field(min_length=1, description="e.g. /halcyon/clinical")
    type: str = Field(pattern=r"^halcyon\.[a-z_]+\.[a-z_]+\.[a-z_]+\.v[0-9]+$")
    subject: str = Field(min_length=1, description="the aggregate id; also the Kafka key")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    tenantid: str = Field(min_length=1)
    correlationid: str = Field(min_length=1)
    causationid: str | None = None
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("event time must be timezone-aware")
        return value.astimezone(UTC)

    @classmethod
    def wrap(
        cls,
        contract: EventContract,
        *,
        source: str,
        tenant_id: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> EventEnvelope:
        event_id = new_event_id()
        return cls(
            id=event_id,
            source=source,
            type=contract.event_type,
            subject=contract.subject(),
            dataschema=contract.schema_uri(),
            tenantid=tenant_id,
            correlationid=correlation_id or event_id,
            causationid=causation_id,
            data=contract.model_dump(mode="json"),
        )

    def contract(self) -> EventContract:
        """Parse ``data`` into the contract registered for ``type`` (raises if unknown)."""
        return contract_for(self.type).model_validate(self.data)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> EventEnvelope:
        return cls.model_validate_json(raw)
