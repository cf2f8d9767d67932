"""A client's coverages: each names a payer of the agency."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from halcyon.billing.store import Coverages, Payers
from halcyon.shared.auth import Caller
from halcyon.shared.errors import RuleViolation
from uuid6 import uuid7


async def record_coverage(
    coverages: Coverages,
    payers: Payers,
    caller: Caller,
    client_id: str,
    terms: dict[str, Any],
) -> dict[str, Any]:
    """Keep a coverage (``terms`` as JSON: payer, rank, member, subscriber, dates)."""
    if await payers.get(caller.tenant_id, terms["payer"]) is None:
        raise RuleViolation(f"no payer {terms['payer']}")
    doc = {
        "_id": str(uuid7()),
        "client_id": client_id,
        **terms,
        "created_at": datetime.now(UTC),
    }
    return await coverages.insert(caller.tenant_id, doc)
