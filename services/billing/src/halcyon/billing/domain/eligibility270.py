"""X12 270 eligibility inquiry (005010X279A1): is this subscriber covered on this date?"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from halcyon.billing.domain.claim837 import Address, BillingProvider, Party, ascii_text
from halcyon.billing.domain.x12 import SegmentWriter, Separators

IMPLEMENTATION = "005010X279A1"
# EQ01 service type 30: health benefit plan coverage (the general "am I covered" question).
HEALTH_BENEFIT_PLAN_COVERAGE = "30"


def inquiry_trace(control_number: int) -> str:
    """TRN02 of a 270: unique per tenant (from the interchange counter), echoed in the 271."""
    return f"E{control_number}"


def inquiry_270(
    profile: dict[str, Any],
    payer: dict[str, Any],
    coverage: dict[str, Any],
    control: int,
    on: date,
    created_at: datetime,
) -> str:
    """The 270 asking ``payer`` whether ``coverage``'s subscriber is covered ``on`` a day,
    sent by the site's billing provider (``profile``); ClaimRefused if it cannot be written."""
    person = coverage["subscriber"]
    return write_270(
        sender_id=profile["submitter_id"],
        receiver_id=profile["receiver_id"],
        control_number=control,
        created_at=created_at,
        payer=Party(payer["name"], payer["payer_id"]),
        provider=BillingProvider(
            profile["provider_name"],
            profile["npi"],
            profile["tax_id"],
            Address(**{k: v for k, v in profile["address"].items() if v is not None}),
        ),
        subscriber=Party(
            person["family_name"],
            coverage["member_id"],
            given_name=person["given_name"],
            date_of_birth=date.fromisoformat(person["date_of_birth"]),
        ),
        trace_number=inquiry_trace(control),
        on=on,
        usage=profile.get("usage", "P"),
    )


def write_270(
    *,
    sender_id: str,
    receiver_id: str,
    control_number: int,
    created_at: datetime,
    payer: Party,
    provider: BillingProvider,
    subscriber: Party,
    trace_number: str,
    on: date,
    usage: str = "P",
    separators: Separators | None = None,
) -> str:
    sep = separators or Separators()
    isa_control = f"{control_number:09d}"
    st_control = f"{control_number % 10**9:04d}"
    head = SegmentWriter(sep)
    head.add(
        "ISA", "00", " " * 10, "00", " " * 10,
        "ZZ", sender_id[:15].ljust(15), "ZZ", receiver_id[:15].ljust(15),
        created_at.strftime("%y%m%d"), created_at.strftime("%H%M"), sep.repetition, "00501",
        isa_control, "0", usage, sep.component,
    )  # fmt: skip
    head.add(
        "GS", "HS", sender_id, receiver_id, created_at.strftime("%Y%m%d"),
        created_at.strftime("%H%M"), str(control_number), "X", IMPLEMENTATION,
    )  # fmt: skip
    body = SegmentWriter(sep)
    body.add("ST", "270", st_control, IMPLEMENTATION)
    body.add(
        "BHT",
        "0022",
        "13",
        trace_number,
        created_at.strftime("%Y%m%d"),
        created_at.strftime("%H%M"),
    )
    body.add("HL", "1", "", "20", "1")  # 2000A information source: the payer
    body.add(
        "NM1",
        "PR",
        "2",
        _name(payer.name, 60, "payer.name"),
        "",
        "",
        "",
        "",
        "PI",
        payer.identifier,
    )
    body.add("HL", "2", "1", "21", "1")  # 2000B information receiver: the billing provider
    body.add(
        "NM1", "1P", "2", _name(provider.name, 60, "billing_provider.name"), "", "", "", "", "XX",
        provider.npi,
    )  # fmt: skip
    body.add("HL", "3", "2", "22", "0")  # 2000C subscriber
    body.add("TRN", "1", trace_number, f"1{provider.tax_id}")
    body.add(
        "NM1", "IL", "1", _name(subscriber.name, 60, "subscriber.name"),
        _name(subscriber.given_name or "", 35, "subscriber.given_name"),
        "", "", "", "MI", subscriber.identifier,
    )  # fmt: skip
    if subscriber.date_of_birth is not None:
        body.add("DMG", "D8", subscriber.date_of_birth.strftime("%Y%m%d"))
    body.add("DTP", "291", "D8", on.strftime("%Y%m%d"))
    body.add("EQ", HEALTH_BENEFIT_PLAN_COVERAGE)
    body.add("SE", str(body.count + 1), st_control)
    tail = SegmentWriter(sep)
    tail.add("GE", "1", str(control_number))
    tail.add("IEA", "1", isa_control)
    return head.text() + body.text() + tail.text()


def _name(value: str, limit: int, field: str) -> str:
    """ASCII (Núñez -> NUNEZ, as on the 837P) and upper-case; refused when not transliterable."""
    return " ".join(ascii_text(value, field).upper().split())[:limit]
