"""Re-check a dosing note's protocol conditions at its signature (docs/adr/0403)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from halcyon.clinical.domain.gating import signature_conditions, unacknowledged
from halcyon.clinical.usecases.chart import Chart
from halcyon.shared.errors import RuleViolation
from halcyon.shared.mongo import Document


class SignatureRefused(RuleViolation):
    slug, title = "signature-refused", "The dosing session fails its protocol's conditions"


async def check_dosing_signature(
    chart: Chart,
    note: Document,
    consents: list[dict[str, Any]],
    screenings: list[dict[str, Any]],
    acknowledged: list[str],
    now: datetime,
) -> list[dict[str, str]]:
    """The failed conditions the signer acknowledged (kept on the note); raise, audited,
    naming every failed condition not acknowledged."""
    if not note.get("dosing"):
        return []
    failed = signature_conditions(
        note["dosing"], consents, screenings, now, clinicians=note.get("clinicians") or []
    )
    pending = unacknowledged(failed, acknowledged)
    if pending:
        codes = ", ".join(f.code for f in pending)
        await chart.denied("sign", "clinical/note", note["_id"], f"protocol conditions: {codes}")
        raise SignatureRefused(
            "the dosing session fails its protocol's conditions: "
            + "; ".join(f.detail for f in pending)
            + ". Sign again acknowledging each code to document the session anyway.",
            failed_conditions=[f.as_dict() for f in pending],
        )
    return [f.as_dict() for f in failed]
