"""Example envelopes: each contract's example as the whole envelope on the wire, with fixed
ids and times so the generated documents are stable.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from halcyon.shared.contracts import EventContract
from halcyon.shared.envelope import EventEnvelope

# The example envelopes are regenerated on every build and compared with the committed
# document, so their id, time and tenant are fixed rather than drawn at random.
EXAMPLE_PUBLISHED_AT = datetime(2026, 3, 2, 17, 45, 12, 318000, tzinfo=UTC)
EXAMPLE_TENANT = "agency-cedar-ridge"
# Audit events come from every service and partner reports from the service that owns the
# fact; other events come from the service named in their type.
_EXAMPLE_SOURCES = {"audit": "/halcyon/clinical"}  # every service audits; one example


def _fixed_uuid7(seed: str, at: datetime) -> str:
    """A UUIDv7 for ``at`` whose random bits come from ``seed``: it looks like the ids
    on the wire but is the same on every build."""
    millis = int(at.timestamp() * 1000)
    bits = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big")
    rand_a, rand_b = bits >> 68, bits & ((1 << 62) - 1)
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    hexed = f"{value:032x}"
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def example_envelope(contract: type[EventContract]) -> dict[str, Any]:
    """The contract's example as the whole envelope on the wire (JSON-ready)."""
    data = contract.model_validate(contract.example)
    context = contract.event_type.split(".")[1]
    request_at = EXAMPLE_PUBLISHED_AT - timedelta(milliseconds=240)
    envelope = EventEnvelope(
        id=_fixed_uuid7(contract.event_type, EXAMPLE_PUBLISHED_AT),
        source=(
            f"/halcyon/{contract.published_by}"
            if contract.published_by
            else _EXAMPLE_SOURCES.get(context, f"/halcyon/{context}")
        ),
        type=contract.event_type,
        subject=data.subject(),
        time=EXAMPLE_PUBLISHED_AT,
        dataschema=contract.schema_uri(),
        tenantid=EXAMPLE_TENANT,
        correlationid=_fixed_uuid7(f"{contract.event_type}#request", request_at),
        data=data.model_dump(mode="json"),
    )
    wire: dict[str, Any] = json.loads(envelope.model_dump_json())
    return wire
