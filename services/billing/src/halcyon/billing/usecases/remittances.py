"""Posting an 835: payments, adjustments, provider-level adjustments, denials, patient balances.

All or nothing per file, without multi-document transactions (ADR 0604):

1. The whole file is read and its posting plan built before the first write
   (off the event loop: a 10 MB file takes seconds). A file that is not a complete,
   valid interchange raises X12Error here and nothing is written.
2. A remittance-file record (sender + ISA13 + content hash) is written ``pending``.
3. Every posting is written with its deterministic id (payments, PLBs, ledger
   entries, work items) or as a conditional update (a claim applies a payment id
   once), so a crash half-way followed by a retry, or the same file sent twice,
   converges to exactly one posting.
4. What was stored is read back; the summary is built from it and the record
   becomes ``posted``. A posted file sent again posts nothing and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from halcyon.billing.domain.posting import (
    ClaimPosting,
    ClaimRef,
    PostingPlan,
    ProviderAdjustmentPosting,
    plan_posting,
    remittance_file_id,
)
from halcyon.billing.domain.remittance import Remittance, read_835
from halcyon.billing.runtime import BillingRuntime, Events
from halcyon.billing.store import Claims, Ledger, Payments, Remittances, WorkQueue
from halcyon.billing.usecases.charge_capture import _ledger_entry
from halcyon.billing.usecases.claiming import status_event
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.billing import PaymentPosted
from halcyon.shared.errors import Conflict, Unavailable
from halcyon.shared.mongo import DuplicateRecord, OutboxEvent

# Ids per $in query when looking claims up and reading postings back.
CHUNK = 500


class RemittancePoster:
    def __init__(
        self,
        remittances: Remittances,
        claims: Claims,
        payments: Payments,
        work: WorkQueue,
        ledger: Ledger,
        events: Events,
    ) -> None:
        self.remittances = remittances
        self.claims = claims
        self.payments = payments
        self.work = work
        self.ledger = ledger
        self.events = events

    @classmethod
    def of(cls, runtime: BillingRuntime) -> RemittancePoster:
        return cls(
            runtime.repo(Remittances),
            runtime.repo(Claims),
            runtime.repo(Payments),
            runtime.repo(WorkQueue),
            runtime.repo(Ledger),
            runtime,
        )

    async def ingest(self, caller: Caller, raw: bytes, filename: str | None) -> dict[str, Any]:
        # Read everything first: a file that cannot be posted whole raises before any write.
        remittance = await asyncio.to_thread(read_835, raw)
        tenant = caller.tenant_id
        rid = remittance_file_id(tenant, remittance)
        existing = await self.remittances.get(tenant, rid)
        if existing is not None and existing.get("status") == "posted":
            return {**existing["summary"], "id": rid, "already_ingested": True}
        numbers = sorted(
            {c.patient_control_number for t in remittance.transactions for c in t.claims}
        )
        refs: dict[str, ClaimRef] = {}
        for start in range(0, len(numbers), CHUNK):
            found = await self.claims.find(
                tenant, {"claim_number": {"$in": numbers[start : start + CHUNK]}}
            )
            refs.update(
                {d["claim_number"]: ClaimRef(d["_id"], d["client_id"], d["payer"]) for d in found}
            )
        plan = await asyncio.to_thread(plan_posting, tenant, remittance, refs)
        interchange = remittance.interchange
        # Same file keys, other money: this interchange number was posted with other
        # content. Refused before any write (writing would keep the stored amounts).
        differences = plan.differences(await self._stored(tenant, plan.ids))
        if differences:
            raise Conflict(
                f"interchange {interchange.control_number} from {interchange.sender} was "
                f"already posted with other amounts for {len(differences)} posting(s), e.g. "
                f"{differences[0]}: nothing of this file was posted",
                postings=differences[:20],
            )
        if existing is None:
            with contextlib.suppress(DuplicateRecord):  # the same file sent twice at once
                await self.remittances.insert(
                    tenant,
                    {
                        "_id": rid,
                        "status": "pending",
                        "sender": interchange.sender,
                        "interchange_control_number": interchange.control_number,
                        "content_sha256": interchange.content_sha256,
                        "file_sha256": remittance.file_sha256,
                        "filename": filename,
                        "planned": len(plan.ids),
                        "received_at": datetime.now(UTC),
                        "received_by": caller.user_id,
                    },
                )
        for posting in plan.claims:
            await self._post_claim(caller, rid, posting)
        for adjustment in plan.provider_adjustments:
            await self._post_provider_adjustment(caller, rid, adjustment)
        summary = await self._summary(tenant, remittance, plan, filename)
        await self.remittances.update(
            tenant,
            {"_id": rid},
            {"$set": {"status": "posted", "summary": summary, "posted_at": datetime.now(UTC)}},
        )
        return {**summary, "id": rid, "already_ingested": False}

    async def _post_provider_adjustment(
        self, caller: Caller, rid: str, adjustment: ProviderAdjustmentPosting
    ) -> None:
        event = PaymentPosted(
            payment_id=adjustment.adjustment_id,
            amount_cents=-adjustment.amount_cents,
            source="adjustment",
        )
        transaction = adjustment.transaction
        with contextlib.suppress(DuplicateRecord):
            await self.payments.insert(
                caller.tenant_id,
                {
                    "_id": adjustment.adjustment_id,
                    "kind": "provider_adjustment",
                    "remittance_id": rid,
                    "transaction_control_number": transaction.control_number,
                    "position": adjustment.index + 1,
                    "reason": adjustment.reason,
                    "reference": adjustment.reference,
                    "amount_cents": adjustment.amount_cents,
                    "fiscal_period": adjustment.fiscal_period,
                    "provider_id": adjustment.provider_id,
                    "trace_number": transaction.trace_number,
                    "payer_id": transaction.payer_id,
                    "posted_at": datetime.now(UTC),
                },
                [self._event(caller, event)],
            )

    async def _post_claim(self, caller: Caller, rid: str, posting: ClaimPosting) -> None:
        tenant = caller.tenant_id
        payment = posting.payment
        claim = posting.claim
        adjustments = [{**asdict(a), "position": i + 1} for i, a in enumerate(payment.adjustments)]
        services = [
            {
                "line": line + 1,  # the SVC's position within the claim payment
                "procedure": s.procedure,
                "modifiers": list(s.modifiers),
                "charge_cents": s.charge_cents,
                "paid_cents": s.paid_cents,
                "adjustments": [
                    {**asdict(a), "position": i + 1} for i, a in enumerate(s.adjustments)
                ],
                "remarks": list(s.remarks),
            }
            for line, s in enumerate(payment.services)
        ]
        document = {
            "_id": posting.payment_id,
            "kind": "claim_payment",
            "remittance_id": rid,
            "claim_id": claim.claim_id if claim else None,
            "client_id": claim.client_id if claim else None,
            "patient_control_number": payment.patient_control_number,
            "payer_claim_number": payment.payer_claim_number,
            "claim_status_code": payment.status,
            "charge_cents": payment.charge_cents,
            "amount_cents": payment.paid_cents,
            "patient_responsibility_cents": payment.patient_responsibility_cents,
            "adjustments": adjustments,
            "services": services,
            "remarks": list(payment.remarks),
            "denial": payment.is_denial,
            **({"denial_codes": payment.denial_codes} if payment.is_denial else {}),
            "transaction_control_number": posting.transaction.control_number,
            "trace_number": posting.transaction.trace_number,
            "payer_id": posting.transaction.payer_id,
            "posted_at": datetime.now(UTC),
        }
        event = PaymentPosted(
            payment_id=posting.payment_id,
            claim_id=claim.claim_id if claim else None,
            client_id=claim.client_id if claim else None,
            amount_cents=payment.paid_cents,
            source="era_835",
        )
        with contextlib.suppress(DuplicateRecord):
            await self.payments.insert(tenant, document, [self._event(caller, event)])
        if claim is not None:
            doc = await self.claims.get(tenant, claim.claim_id)
            if doc is not None:
                await self._apply_to_claim(caller, posting, doc, adjustments, services)
            owed = payment.patient_responsibility_cents
            description = (
                "patient responsibility (deductible, coinsurance, copay) per payer remittance"
            )
            if doc is not None and doc.get("primary_claim_id"):
                # A later payer's CLP05 replaces what the primary left to the client; the
                # primary's share is already on the ledger, so only the difference posts.
                primary = await self.claims.get(tenant, doc["primary_claim_id"])
                owed -= int((primary or {}).get("patient_responsibility_cents", 0))
                description = "patient responsibility after the secondary payer"
            if owed:
                await _ledger_entry(
                    self.ledger,
                    tenant,
                    f"led:{posting.payment_id}",
                    claim.client_id,
                    owed,
                    description,
                    posting.payment_id,
                )
        if posting.work_item is not None:
            with contextlib.suppress(DuplicateRecord):
                await self.work.insert(
                    tenant,
                    {
                        "_id": f"wq:{posting.payment_id}",
                        "kind": posting.work_item,
                        "status": "open",
                        "payment_id": posting.payment_id,
                        "claim_id": claim.claim_id if claim else None,
                        "client_id": claim.client_id if claim else None,
                        "patient_control_number": payment.patient_control_number,
                        "payer_claim_number": payment.payer_claim_number,
                        **posting.reasons(),
                        "charge_cents": payment.charge_cents,
                        "created_at": datetime.now(UTC),
                    },
                )

    async def _apply_to_claim(
        self,
        caller: Caller,
        posting: ClaimPosting,
        doc: dict[str, Any],
        adjustments: list[dict[str, Any]],
        services: list[dict[str, Any]],
    ) -> None:
        """Apply the payment to our claim once (``applied_payments`` guards a retry)."""
        tenant = caller.tenant_id
        payment = posting.payment
        status = posting.claim_status
        # Line adjudication for a later secondary claim (2430): match SVC lines to ours by code.
        remaining = list(doc.get("lines", []))
        line_adjudications = []
        for service in services:
            match = next((line for line in remaining if line["cpt"] == service["procedure"]), None)
            if match is None:
                continue
            remaining.remove(match)
            line_adjudications.append(
                {
                    "charge_id": match["charge_id"],
                    "paid_cents": service["paid_cents"],
                    "adjustments": service["adjustments"],
                }
            )
        adjudicated_on = posting.transaction.payment_date or datetime.now(UTC).date()
        projected = {
            **doc,
            "paid_cents": int(doc.get("paid_cents", 0)) + payment.paid_cents,
            "denial_codes": payment.denial_codes if payment.is_denial else [],
        }
        await self.claims.update(
            tenant,
            {"_id": doc["_id"], "applied_payments": {"$ne": posting.payment_id}},
            {
                "$inc": {
                    "paid_cents": payment.paid_cents,
                    "patient_responsibility_cents": payment.patient_responsibility_cents,
                },
                "$set": {
                    "status": status,
                    "claim_adjustments": adjustments,
                    "line_adjudications": line_adjudications,
                    "adjudicated_on": adjudicated_on.isoformat(),
                    "denial_codes": projected["denial_codes"],
                    "payer_claim_number": payment.payer_claim_number,
                },
                "$push": {
                    "applied_payments": posting.payment_id,
                    "history": {
                        "status": status,
                        "at": datetime.now(UTC),
                        "by": "era_835",
                        "payment_id": posting.payment_id,
                    },
                },
            },
            [status_event(self.events, tenant, projected, status)],
        )

    def _event(self, caller: Caller, contract: PaymentPosted) -> OutboxEvent:
        return self.events.event(contract, tenant_id=caller.tenant_id)

    async def _stored(self, tenant: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The payments and PLB postings among ``ids`` already in the store, by id."""
        stored: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), CHUNK):
            found = await self.payments.find(tenant, {"_id": {"$in": ids[start : start + CHUNK]}})
            stored.update({d["_id"]: d for d in found})
        return stored

    async def _summary(
        self, tenant: str, remittance: Remittance, plan: PostingPlan, filename: str | None
    ) -> dict[str, Any]:
        """What this file's postings are in the store, read back (not what was meant)."""
        ids = plan.ids
        stored = list((await self._stored(tenant, ids)).values())
        if len(stored) != len(ids):
            # A write did not land (the record stays pending): sending the file again
            # completes it, and nothing posts twice.
            raise Unavailable(
                f"{len(ids) - len(stored)} of {len(ids)} postings were not stored; "
                "send the file again to complete it"
            )
        payments = [d for d in stored if d["kind"] == "claim_payment"]
        plbs = [d for d in stored if d["kind"] == "provider_adjustment"]
        return {
            "filename": filename,
            "sha256": remittance.file_sha256,
            "sender": remittance.interchange.sender,
            "interchange_control_number": remittance.interchange.control_number,
            "warnings": remittance.warnings,
            "transactions": len(remittance.transactions),
            "trace_numbers": sorted({t.trace_number for t in remittance.transactions}),
            "claim_payments": len(payments),
            "matched": sum(1 for d in payments if d.get("claim_id")),
            "unmatched": sum(1 for d in payments if not d.get("claim_id")),
            "denials": sum(1 for d in payments if d.get("denial")),
            "paid_cents": sum(int(d["amount_cents"]) for d in payments),
            "provider_adjustments": len(plbs),
            "provider_adjustment_cents": sum(int(d["amount_cents"]) for d in plbs),
            "payment_cents": sum(t.payment_cents for t in remittance.transactions),
        }
