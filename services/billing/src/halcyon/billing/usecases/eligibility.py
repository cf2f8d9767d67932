"""270 -> 271 round trip: record each inquiry by its trace number; a 271 posted back is
read strictly and applied to the coverage the inquiry was about (ADR 0605)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from halcyon.billing.domain.eligibility271 import EligibilityResponse, read_271
from halcyon.billing.domain.x12 import X12Error
from halcyon.billing.store import Coverages, EligibilityInquiries, Payers
from halcyon.shared.auth import Caller
from halcyon.shared.errors import RuleViolation


def inquiry_trace(control_number: int) -> str:
    """TRN02 of a 270: unique per tenant (from the interchange counter), echoed in the 271."""
    return f"E{control_number}"


def eligibility_summary(answer: EligibilityResponse, on: str | None) -> dict[str, Any]:
    """What the coverage shows: exact cents, the coinsurance as an exact percent string."""
    if answer.rejections and answer.active is None:
        state = "rejected"
    else:
        state = {True: "active", False: "inactive", None: "unknown"}[answer.active]
    percent = None
    if answer.coinsurance is not None:
        percent = format((answer.coinsurance * 100).normalize(), "f")
    return {
        "status": state,
        "as_of": on,
        "checked_at": datetime.now(UTC),
        "trace_number": answer.trace_number,
        "plan_name": answer.plan_name,
        "plan_begins_on": _iso(answer.plan_begins_on),
        "plan_ends_on": _iso(answer.plan_ends_on),
        "copay_cents": answer.copay_cents,
        "out_of_network_copay_cents": answer.out_of_network_copay_cents,
        "coinsurance_percent": percent,
        "deductible_cents": answer.deductible_cents,
        "deductible_remaining_cents": answer.deductible_remaining_cents,
        "rejections": [{"reason": r.reason, "follow_up": r.follow_up} for r in answer.rejections],
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


class EligibilityResponses:
    def __init__(
        self, inquiries: EligibilityInquiries, coverages: Coverages, payers: Payers
    ) -> None:
        self.inquiries = inquiries
        self.coverages = coverages
        self.payers = payers

    async def record_inquiry(
        self, caller: Caller, trace: str, coverage: dict[str, Any], on: date
    ) -> None:
        await self.inquiries.insert(
            caller.tenant_id,
            {
                "_id": trace,
                "client_id": coverage["client_id"],
                "coverage_id": coverage["_id"],
                "payer": coverage["payer"],
                "member_id": coverage["member_id"],
                "on": on.isoformat(),
                "status": "sent",
                "created_at": datetime.now(UTC),
                "created_by": caller.user_id,
            },
        )

    async def post_271(self, caller: Caller, raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the inquiry, the updated coverage). X12Error when the 271 is malformed;
        RuleViolation when it answers no inquiry of ours or another member/payer."""
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise X12Error("ISA", None, f"byte {exc.start} is not ASCII") from None
        answer = read_271(text)
        if not answer.trace_number:
            raise RuleViolation("the 271 carries no TRN*2 trace: it answers no inquiry of ours")
        tenant = caller.tenant_id
        inquiry = await self.inquiries.get(tenant, answer.trace_number)
        if inquiry is None:
            raise RuleViolation(
                f"no 270 was sent with trace {answer.trace_number}", trace=answer.trace_number
            )
        coverage = await self.coverages.get(tenant, inquiry["coverage_id"])
        payer = await self.payers.get(tenant, inquiry["payer"])
        if coverage is None or payer is None:
            raise RuleViolation("the coverage or payer of that inquiry no longer exists")
        if answer.payer_id != payer["payer_id"]:
            raise RuleViolation(
                f"the 271 is from payer {answer.payer_id}, the inquiry went to {payer['payer_id']}"
            )
        if answer.member_id and answer.member_id != coverage["member_id"]:
            raise RuleViolation(
                f"the 271 is about member {answer.member_id}, the coverage's is "
                f"{coverage['member_id']}"
            )
        summary = {**eligibility_summary(answer, inquiry.get("on")), "asked_at": _asked(inquiry)}
        await self.inquiries.update(
            tenant,
            {"_id": inquiry["_id"]},
            {"$set": {"status": "answered", "answer": summary, "answered_by": caller.user_id}},
        )
        shown = coverage.get("eligibility") or {}
        if shown.get("asked_at") is not None and _utc(shown["asked_at"]) > summary["asked_at"]:
            # The answer to an older inquiry (a replayed mailbox) stays on its inquiry; the
            # coverage keeps the answer to the newest question asked.
            return inquiry, coverage
        updated = await self.coverages.update(
            tenant, {"_id": coverage["_id"]}, {"$set": {"eligibility": summary}}
        )
        return inquiry, updated or {**coverage, "eligibility": summary}


def _asked(inquiry: dict[str, Any]) -> datetime:
    created = inquiry.get("created_at")
    return _utc(created) if isinstance(created, datetime) else datetime.min.replace(tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    # The document store hands back naive UTC datetimes.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
