"""Where a client stands on a protocol's dosing conditions (what front desk checks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from halcyon.scheduling.domain.gating import check_protocol
from halcyon.shared.errors import NotFound

if TYPE_CHECKING:
    from halcyon.scheduling.usecases.booking import Scheduler


@dataclass(frozen=True)
class ProtocolReadiness:
    client_id: str
    protocol_id: str
    informed_consent: bool
    eligible_screening: bool | None  # None: no screening yet
    completed_preparation_sessions: int
    preparation_sessions_required: int
    dosing_sessions: list[datetime]
    min_days_between_dosing: int


async def protocol_readiness(
    scheduler: Scheduler, tenant_id: str, client_id: str, protocol_id: str
) -> ProtocolReadiness:
    protocol = scheduler.protocol(protocol_id)
    if protocol is None:
        raise NotFound(f"no protocol {protocol_id}")
    facts = await scheduler.client_protocol_facts(tenant_id, client_id, protocol, exclude=None)
    dosing = await scheduler.appointment_type(tenant_id, protocol.dosing_type)
    now = datetime.now(UTC)
    refusals = {f.code for f in check_protocol(dosing, protocol, facts, now)} if dosing else set()
    screenings = sorted(
        (s for s in facts.screenings if s.protocol_id == protocol_id), key=lambda s: s.signed_at
    )
    return ProtocolReadiness(
        client_id=client_id,
        protocol_id=protocol_id,
        informed_consent="informed_consent" not in refusals,
        eligible_screening=screenings[-1].eligible if screenings else None,
        completed_preparation_sessions=len(facts.completed_preparations),
        preparation_sessions_required=protocol.preparation_sessions_required,
        dosing_sessions=sorted(facts.other_dosing_sessions),
        min_days_between_dosing=protocol.min_days_between_dosing,
    )
