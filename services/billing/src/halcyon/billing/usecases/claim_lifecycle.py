"""A claim after it was written: sent to the clearinghouse, accepted or rejected there,
appealed after a denial. Each step is a conditional update of the claim with its
``ClaimStatusChanged`` event in the same write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from halcyon.billing.domain.claims import check_transition
from halcyon.billing.runtime import BillingRuntime, Events
from halcyon.billing.store import Charges, Claims
from halcyon.billing.usecases.claiming import status_event
from halcyon.shared.auth import Caller
from halcyon.shared.errors import NotFound


class ClaimLifecycle:
    def __init__(self, claims: Claims, charges: Charges, events: Events) -> None:
        self.claims = claims
        self.charges = charges
        self.events = events

    @classmethod
    def of(cls, runtime: BillingRuntime) -> ClaimLifecycle:
        return cls(runtime.repo(Claims), runtime.repo(Charges), runtime)

    async def mark_submitted(self, caller: Caller, claim_file: dict[str, Any]) -> int:
        """The file went to the clearinghouse: its draft claims become submitted."""
        tenant = caller.tenant_id
        changed = 0
        for claim_id in claim_file["claim_ids"]:
            claim = await self.claims.get(tenant, claim_id)
            if claim is None or claim["status"] != "draft":
                continue
            done = await self.claims.update(
                tenant,
                {"_id": claim_id, "status": "draft"},
                {
                    "$set": {"status": "submitted"},
                    "$push": {
                        "history": {
                            "status": "submitted",
                            "at": datetime.now(UTC),
                            "by": caller.user_id,
                        }
                    },
                },
                [status_event(self.events, tenant, claim, "submitted")],
            )
            changed += done is not None
        return changed

    async def change_status(
        self, caller: Caller, claim: dict[str, Any], status: str, reason: str | None
    ) -> dict[str, Any]:
        """Clearinghouse acceptance or rejection, or an appeal; a rejected claim's charges
        go back to be fixed and batched again."""
        tenant = caller.tenant_id
        check_transition(claim["status"], status)
        updated = await self.claims.update(
            tenant,
            {"_id": claim["_id"], "status": claim["status"]},
            {
                "$set": {"status": status},
                "$push": {
                    "history": {
                        "status": status,
                        "at": datetime.now(UTC),
                        "by": caller.user_id,
                        "reason": reason,
                    }
                },
            },
            [status_event(self.events, tenant, claim, status)],
        )
        if updated is None:
            raise NotFound(f"claim {claim['_id']} changed meanwhile; read it again")
        if status == "rejected":
            for charge_id in claim["charge_ids"]:
                await self.charges.update(
                    tenant,
                    {"_id": charge_id, "status": "claimed", "claim_id": claim["_id"]},
                    {
                        "$set": {
                            "status": "open",
                            "claim_id": None,
                            "rejected_claim_id": claim["_id"],
                        }
                    },
                )
        return updated
