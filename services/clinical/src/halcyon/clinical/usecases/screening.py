"""Screening reads the client's medication, allergy and problem lists."""

from __future__ import annotations

from halcyon.clinical.domain.chart_lists import facts_for_screening, with_listed_facts
from halcyon.clinical.domain.screening import ScreeningHistory
from halcyon.clinical.store import AllergyRepository, MedicationRepository, ProblemRepository

# Far more than any real list; bounds the read.
_LIST_LIMIT = 500


async def history_with_lists(
    tenant_id: str,
    client_id: str,
    typed: ScreeningHistory,
    medications: MedicationRepository,
    allergies: AllergyRepository,
    problems: ProblemRepository,
) -> ScreeningHistory:
    """What the prescriber typed plus what the chart's lists say on the screening day."""
    scope = {"client_id": client_id}
    facts = facts_for_screening(
        await medications.find(tenant_id, scope, limit=_LIST_LIMIT),
        await allergies.find(tenant_id, scope, limit=_LIST_LIMIT),
        await problems.find(tenant_id, scope, limit=_LIST_LIMIT),
        typed.screened_on,
    )
    return with_listed_facts(typed, facts)
