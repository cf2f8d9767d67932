"""42 CFR Part 2 on claims (ADR 0607): hold a Part 2 encounter's charges until an active
Part 2 consent names the payer and covers payment; release them when one arrives; hold
the unclaimed ones again when it is revoked or expires.

Billing keeps clinical's Part 2 consents (``ConsentChanged`` kind ``part2``) as a read
model. A charge already on a claim stays there: a revocation does not undo a
disclosure already made (42 CFR 2.31(a)(5)), but no new claim (batch, secondary,
corrected) leaves while the consent is missing (``ClaimBatcher.part2_hold``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from halcyon.billing.domain.part2 import HOLD_REASON, consent_for_payment
from halcyon.billing.domain.payers import SELF_PAY
from halcyon.billing.runtime import BillingRuntime
from halcyon.billing.store import Charges, Part2Consents, Payers, WorkQueue
from halcyon.billing.usecases.holds import PART2_HOLD, open_item, part2_item_id, resolve_item
from halcyon.shared.contracts.clinical import ConsentChanged

log = logging.getLogger("halcyon.billing.part2")
REVOKED = "revoked"


class Part2Holds:
    def __init__(self, runtime: BillingRuntime) -> None:
        self.consents = runtime.repo(Part2Consents)
        self.charges = runtime.repo(Charges)
        self.payers = runtime.repo(Payers)
        self.work = runtime.repo(WorkQueue)

    async def hold_reason(self, tenant: str, client_id: str, payer_ref: str) -> str | None:
        """Why a Part 2 charge for this payer may not be claimed now, or None."""
        if payer_ref == SELF_PAY:
            return None  # the client pays: nothing is disclosed to a payer
        payer = await self.payers.get(tenant, payer_ref)
        if payer is None:
            return HOLD_REASON
        consents = await self.consents.find(tenant, {"client_id": client_id})
        found = consent_for_payment(consents, payer["name"], payer["payer_id"], datetime.now(UTC))
        return None if found is not None else HOLD_REASON

    async def open(self, tenant: str, charge: dict[str, Any]) -> None:
        await open_item(
            self.work,
            tenant,
            part2_item_id(charge["encounter_id"], charge["payer"]),
            PART2_HOLD,
            HOLD_REASON,
            {
                "client_id": charge["client_id"],
                "site_id": charge["site_id"],
                "encounter_id": charge["encounter_id"],
                "payer": charge["payer"],
            },
        )

    async def consent_changed(self, tenant: str, event: ConsentChanged) -> None:
        """Keep the consent, then re-decide every unclaimed Part 2 charge of the client."""
        if event.kind != "part2":
            return
        known = await self.consents.get(tenant, event.consent_id)
        if known is not None and known.get("status") == REVOKED and event.status != REVOKED:
            # 42 CFR 2.31(a)(5): a revocation is final for that consent (re-signing makes a
            # new consent). An earlier 'active' event redelivered or relayed late after the
            # revocation must not revive it and release held claims to the payer.
            log.info(
                "consent %s is revoked: a later %s event is ignored", known["_id"], event.status
            )
            return
        # Status transfer: the latest state of the consent wins (upsert by consent id).
        await self.consents.update(
            tenant,
            {"_id": event.consent_id},
            {
                "$set": {
                    "client_id": event.client_id,
                    "kind": event.kind,
                    "status": event.status,
                    "recipient": event.recipient,
                    "purpose": event.purpose,
                    "effective_at": event.effective_at,
                    "expires_at": event.expires_at,
                }
            },
            upsert=True,
        )
        await self.recheck(tenant, event.client_id)

    async def recheck(self, tenant: str, client_id: str) -> dict[str, int]:
        charges = await self.charges.find(
            tenant,
            {
                "client_id": client_id,
                "part2": True,
                "kind": "charge",
                "status": {"$in": ["open", "held"]},
            },
        )
        released = held = 0
        for charge in charges:
            reason = await self.hold_reason(tenant, client_id, charge["payer"])
            holds = [h for h in charge.get("hold_reasons", []) if h != HOLD_REASON]
            if reason is None and HOLD_REASON in charge.get("hold_reasons", []):
                done = await self.charges.update(
                    tenant,
                    {"_id": charge["_id"], "status": "held"},
                    {"$set": {"hold_reasons": holds, "status": "held" if holds else "open"}},
                )
                released += done is not None
                await resolve_item(
                    self.work,
                    tenant,
                    part2_item_id(charge["encounter_id"], charge["payer"]),
                    "an active Part 2 consent now covers payment to this payer",
                )
            elif reason is not None and HOLD_REASON not in charge.get("hold_reasons", []):
                done = await self.charges.update(
                    tenant,
                    {"_id": charge["_id"], "status": charge["status"]},
                    {"$set": {"hold_reasons": [*holds, reason], "status": "held"}},
                )
                held += done is not None
                await self.open(tenant, charge)
        log.info("part 2 recheck of %s: %s released, %s held", client_id, released, held)
        return {"released": released, "held": held}
