"""270 -> 271 round trip: record each inquiry by its trace number; a 271 posted back is
read strictly and applied to the coverage the inquiry was about (ADR 0605)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from halcyon.billing.domain.claim837 import ClaimRefused
from halcyon.billing.domain.eligibility270 import inquiry_270, inquiry_trace
from halcyon.billing.domain.eligibility271 import EligibilityResponse, read_271
from halcyon.billing.domain.x12 import X12Error
from halcyon.billing.runtime import BillingRuntime
from halcyon.billing.store import (
    BillingProfiles,
    Counters,
    Coverages,
    EligibilityInquiries,
    Payers,
)
from halcyon.shared.auth import Caller
from halcyon.shared.errors import RuleViolation

__all__ = ["EligibilityQuestions", "EligibilityResponses", "eligibility_summary", "inquiry_trace"]


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


class EligibilityQuestions:
    """Asking a payer (X12 270) whether a client's coverage is active on a day."""

    def __init__(self, runtime: BillingRuntime) -> None:
        self.coverages = runtime.repo(Coverages)
        self.payers = runtime.repo(Payers)
        self.profiles = runtime.repo(BillingProfiles)
        self.counters = runtime.repo(Counters)
        self.responses = EligibilityResponses(
            runtime.repo(EligibilityInquiries), self.coverages, self.payers
        )

    async def ask(
        self, caller: Caller, client_id: str, site_id: str, coverage_id: str, on: date
    ) -> str:
        """The 270 text, sent by the billing provider of ``site_id``; the inquiry is kept
        under its trace number so the 271 that answers names the coverage to update."""
        tenant = caller.tenant_id
        coverage = await self.coverages.get(tenant, coverage_id)
        if coverage is None or coverage["client_id"] != client_id:
            raise RuleViolation(f"coverage {coverage_id} is not this client's")
        payer = await self.payers.get(tenant, coverage["payer"])
        profile = await self.profiles.get(tenant, site_id)
        if payer is None or profile is None:
            raise RuleViolation("the payer or the site's billing profile is missing")
        try:
            inquiry_270(profile, payer, coverage, 0, on, datetime.now(UTC))  # refuse first
        except ClaimRefused as exc:
            raise RuleViolation(f"{exc.field}: {exc.problem}", field=exc.field) from None
        control = await self.counters.next(tenant, "interchange")
        text = inquiry_270(profile, payer, coverage, control, on, datetime.now(UTC))
        await self.responses.record_inquiry(caller, inquiry_trace(control), dict(coverage), on)
        return text


def _asked(inquiry: dict[str, Any]) -> datetime:
    created = inquiry.get("created_at")
    return _utc(created) if isinstance(created, datetime) else datetime.min.replace(tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    # The document store hands back naive UTC datetimes.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
