"""Reading an X12 271 eligibility response (005010X279A1), strictly, and what it says
about a coverage: active or not, plan dates, copay, coinsurance and deductible.

Strict means the whole interchange must hold together before anything is applied:
separators from a complete ISA (all distinct, none alphanumeric), ST/SE and GS/GE and
ISA/IEA control numbers that agree, SE01/GE01/IEA01 counts that match, a 271 of
005010X279A1, money with at most two decimals and plain ASCII digits (no exponent, no
grouping), percentages between 0 and 1, real calendar dates. Anything else is an
``X12Error`` naming the segment (the API turns it into a 422).

Benefits (2110C EB) are read as the TR3 codes them: EB01 1-5 active coverage, 6-8
inactive, A coinsurance (EB08, a fraction: .2 = 20 %), B co-payment (EB07 money), C
deductible (EB07; EB06 29 = what remains; the amount met, 24, is not the deductible),
the individual level (EB02 IND) before the family's. When a payer sends in- and out-of-network
values (EB12 Y/N), the in-network one is the coverage's; the out-of-network one is
kept beside it. Subscriber dates: DTP*346 plan begin, DTP*347 plan end, DTP*291 plan
(a D8 day or an RD8 range); DTP segments inside a benefit belong to that benefit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from halcyon.billing.domain.x12 import Segment, Separators, X12Error, split_segments

IMPLEMENTATION = "005010X279A1"
ACTIVE_CODES = frozenset({"1", "2", "3", "4", "5"})
INACTIVE_CODES = frozenset({"6", "7", "8"})
# EB06 time period: 29 = remaining (what is left of a deductible this period).
REMAINING = "29"
# EB06 periods whose EB07 is not the deductible itself: 24 year to date (the amount met),
# 29 remaining, 30 exceeded, 31 not exceeded, 33 lifetime remaining.
NOT_THE_DEDUCTIBLE = frozenset({"24", "29", "30", "31", "33"})
# EB02 coverage level: the client's own amounts are the individual ones (IND), or those
# that name no level; family (FAM), employee-and-spouse (ESP) ... only when nothing else.
INDIVIDUAL_LEVELS = ("IND", "")
# EB07 is what the client pays (copay, deductible): never negative.
_MONEY = re.compile(r"[0-9]{1,15}(\.[0-9]{0,2})?|\.[0-9]{1,2}", re.ASCII)
_PERCENT = re.compile(r"[0-9]{0,3}(\.[0-9]{1,6})?", re.ASCII)
_D8 = re.compile(r"[0-9]{8}", re.ASCII)
ISA_ELEMENTS = 17  # the tag and ISA01..ISA16


@dataclass(frozen=True)
class Benefit:
    code: str  # EB01
    coverage_level: str  # EB02: IND individual, FAM family ...
    service_types: tuple[str, ...]  # EB03 (repeated)
    insurance_type: str  # EB04
    plan: str  # EB05
    period: str  # EB06
    amount_cents: int | None  # EB07
    percent: Decimal | None  # EB08, 0..1
    in_network: str  # EB12: Y | N | W (both) | U (unknown) | "" not said


@dataclass(frozen=True)
class Rejection:
    """AAA: the payer could not answer (AAA03 reason, e.g. 72 invalid member id)."""

    reason: str
    follow_up: str
    segment: int


@dataclass(frozen=True)
class EligibilityResponse:
    trace_number: str | None  # TRN*2 TRN02: the trace of our 270
    payer_id: str
    payer_name: str
    member_id: str | None
    subscriber_family_name: str | None
    subscriber_given_name: str | None
    active: bool | None  # None when the payer did not say (e.g. a rejection)
    plan_name: str | None
    plan_begins_on: date | None
    plan_ends_on: date | None
    copay_cents: int | None
    out_of_network_copay_cents: int | None
    coinsurance: Decimal | None  # a fraction: 0.2 is 20 %
    deductible_cents: int | None
    deductible_remaining_cents: int | None
    benefits: tuple[Benefit, ...] = field(default=())
    rejections: tuple[Rejection, ...] = field(default=())


def read_271(text: str) -> EligibilityResponse:
    """The 271's answer for the subscriber; ``X12Error`` (naming the segment) if malformed."""
    separators, body = _strict_separators(text)
    segments = split_segments(body, separators)
    _check_envelope(segments)
    return _answer(segments, separators)


def _strict_separators(text: str) -> tuple[Separators, str]:
    body = text.lstrip("\ufeff \r\n\t")
    if not body.startswith("ISA"):
        raise X12Error("ISA", 1, "a 271 interchange starts with ISA")
    if len(body) < 106:
        raise X12Error("ISA", 1, "the interchange ends inside the ISA")
    element = body[3]
    fields = body[:105].split(element)
    if len(fields) != ISA_ELEMENTS:
        raise X12Error(
            "ISA", 1, f"the ISA has {len(fields) - 1} elements, not 16 in 106 characters"
        )
    component = fields[16]
    terminator = body[105]
    repetition = fields[11]
    chosen = [element, component, terminator, repetition]
    for name, ch in zip(("element", "component", "segment", "repetition"), chosen, strict=True):
        if len(ch) != 1 or ch.isalnum() or (ch.isspace() and ch not in "\r\n"):
            raise X12Error("ISA", 1, f"{ch!r} cannot be the {name} separator")
        if not ch.isascii():
            raise X12Error("ISA", 1, f"{ch!r} is not an ASCII separator")
    if len(set(chosen)) != 4:
        raise X12Error("ISA", 1, "the separators are not all different")
    return Separators(element, component, terminator, repetition), body


def _check_envelope(segments: list[Segment]) -> None:
    if not segments or segments[0].tag != "ISA":
        raise X12Error("ISA", 1, "missing")
    isa = segments[0]
    for seg in segments:
        if not re.fullmatch(r"[A-Z0-9]{2,3}", seg.tag, re.ASCII):
            raise X12Error(seg.tag[:10] or "(empty)", seg.position, "not a segment identifier")
    last = segments[-1]
    if last.tag != "IEA":
        raise X12Error(last.tag, last.position, "the interchange does not end with IEA")
    if last.get(2) != isa.get(13):
        raise X12Error("IEA", last.position, f"IEA02 {last.get(2)} is not ISA13 {isa.get(13)}")
    groups = 0
    i = 1
    while i < len(segments) - 1:
        i = _check_group(segments, i)
        groups += 1
    if last.get(1) != str(groups):
        raise X12Error("IEA", last.position, f"IEA01 {last.get(1)} but {groups} groups")
    if groups == 0:
        raise X12Error("IEA", last.position, "the interchange holds no functional group")


def _check_group(segments: list[Segment], i: int) -> int:
    """The functional group starting at ``segments[i]`` (GS..GE); returns the index after."""
    gs = segments[i]
    if gs.tag != "GS":
        raise X12Error(gs.tag, gs.position, "expected GS (a functional group)")
    if gs.get(1) != "HB":
        raise X12Error("GS", gs.position, f"GS01 {gs.get(1)!r} is not HB (eligibility response)")
    sets = 0
    i += 1
    while i < len(segments) and segments[i].tag == "ST":
        i = _check_transaction_set(segments, i)
        sets += 1
    if i >= len(segments) or segments[i].tag != "GE":
        where = segments[min(i, len(segments) - 1)]
        raise X12Error(where.tag, where.position, "expected GE (the group's end)")
    ge = segments[i]
    if ge.get(2) != gs.get(6):
        raise X12Error("GE", ge.position, f"GE02 {ge.get(2)} is not GS06 {gs.get(6)}")
    if ge.get(1) != str(sets):
        raise X12Error("GE", ge.position, f"GE01 {ge.get(1)} but {sets} transaction sets")
    return i + 1


def _check_transaction_set(segments: list[Segment], i: int) -> int:
    """The 271 starting at ``segments[i]`` (ST..SE); returns the index after its SE."""
    st = segments[i]
    if st.get(1) != "271":
        raise X12Error("ST", st.position, f"ST01 {st.get(1)!r} is not a 271")
    if st.get(3) and st.get(3) != IMPLEMENTATION:
        raise X12Error("ST", st.position, f"ST03 {st.get(3)!r} is not {IMPLEMENTATION}")
    j = i + 1
    while j < len(segments) and segments[j].tag not in ("SE", "ST", "GE", "IEA"):
        j += 1
    if j >= len(segments) or segments[j].tag != "SE":
        raise X12Error("ST", st.position, "the transaction set has no SE")
    se = segments[j]
    if se.get(2) != st.get(2):
        raise X12Error("SE", se.position, f"SE02 {se.get(2)} is not ST02 {st.get(2)}")
    if se.get(1) != str(j - i + 1):
        raise X12Error("SE", se.position, f"SE01 {se.get(1)} but {j - i + 1} segments")
    return j + 1


def _money(seg: Segment, index: int) -> int | None:
    raw = seg.get(index)
    if not raw:
        return None
    if not _MONEY.fullmatch(raw):
        raise X12Error(seg.tag, seg.position, f"{seg.name(index)} is not an amount: {raw!r}")
    value = Decimal(raw)
    return int(value * 100)


def _percent(seg: Segment, index: int) -> Decimal | None:
    raw = seg.get(index)
    if not raw:
        return None
    if not _PERCENT.fullmatch(raw) or raw in (".", ""):
        raise X12Error(seg.tag, seg.position, f"{seg.name(index)} is not a percent: {raw!r}")
    value = Decimal(raw)
    if not Decimal(0) <= value <= Decimal(1):
        raise X12Error(
            seg.tag, seg.position, f"{seg.name(index)} {raw} is not a fraction between 0 and 1"
        )
    return value.normalize() if value else Decimal(0)


def _day(seg: Segment, raw: str) -> date:
    if not _D8.fullmatch(raw):
        raise X12Error(seg.tag, seg.position, f"{raw!r} is not a CCYYMMDD date")
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        raise X12Error(seg.tag, seg.position, f"{raw!r} is not a calendar date") from None


def _dates(seg: Segment) -> tuple[date, date | None]:
    qualifier, value = seg.get(2), seg.get(3)
    if qualifier == "D8":
        return _day(seg, value), None
    if qualifier == "RD8":
        first, _, second = value.partition("-")
        start, end = _day(seg, first), _day(seg, second)
        if end < start:
            raise X12Error(seg.tag, seg.position, f"the range {value} ends before it starts")
        return start, end
    raise X12Error(seg.tag, seg.position, f"DTP02 {qualifier!r} is not D8 or RD8")


def _answer(segments: list[Segment], sep: Separators) -> EligibilityResponse:
    trace = payer_id = payer_name = member = family = given = None
    begins = ends = None
    benefits: list[Benefit] = []
    rejections: list[Rejection] = []
    level = ""  # the HL03 of the loop we are in: 20 source, 21 receiver, 22 subscriber
    in_benefit = False
    in_ls = False
    for seg in segments:
        tag = seg.tag
        if tag == "HL":
            level, in_benefit, in_ls = seg.get(3), False, False
        elif tag == "LS":
            in_ls = True
        elif tag == "LE":
            in_ls = False
        elif in_ls:
            continue  # 2120C: a provider named by a benefit (e.g. the PCP), not the subscriber
        elif tag == "NM1" and seg.get(1) == "PR" and level == "20":
            payer_name, payer_id = seg.get(3), seg.get(9)
        elif tag == "NM1" and seg.get(1) == "IL" and level == "22":
            family, given, member = seg.get(3), seg.get(4), seg.get(9) or None
        elif tag == "TRN" and seg.get(1) == "2" and level == "22":
            trace = seg.get(2)
        elif tag == "AAA":
            rejections.append(Rejection(seg.get(3), seg.get(4), seg.position))
        elif tag == "EB":
            in_benefit = True
            benefits.append(_benefit(seg, sep))
        elif tag == "DTP" and level == "22" and not in_benefit:
            begins, ends = _plan_dates(seg, begins, ends)
    if payer_id is None:
        raise X12Error("NM1", None, "no information source (NM1*PR in HL 20)")
    codes = {b.code for b in benefits}
    active = True if codes & ACTIVE_CODES else False if codes & INACTIVE_CODES else None
    plan = next((b.plan for b in benefits if b.code in ACTIVE_CODES and b.plan), None)
    copay, copay_out = _pick(benefits, "B", "amount")
    coins, _ = _pick(benefits, "A", "percent")
    deductible, _ = _pick(
        [b for b in benefits if b.period not in NOT_THE_DEDUCTIBLE], "C", "amount"
    )
    remaining, _ = _pick([b for b in benefits if b.period == REMAINING], "C", "amount")
    return EligibilityResponse(
        trace_number=trace,
        payer_id=payer_id,
        payer_name=payer_name or "",
        member_id=member,
        subscriber_family_name=family,
        subscriber_given_name=given,
        active=active,
        plan_name=plan,
        plan_begins_on=begins,
        plan_ends_on=ends,
        copay_cents=copay if isinstance(copay, int) else None,
        out_of_network_copay_cents=copay_out if isinstance(copay_out, int) else None,
        coinsurance=coins if isinstance(coins, Decimal) else None,
        deductible_cents=deductible if isinstance(deductible, int) else None,
        deductible_remaining_cents=remaining if isinstance(remaining, int) else None,
        benefits=tuple(benefits),
        rejections=tuple(rejections),
    )


def _benefit(seg: Segment, sep: Separators) -> Benefit:
    return Benefit(
        code=seg.get(1),
        coverage_level=seg.get(2),
        service_types=tuple(s for s in seg.get(3).split(sep.repetition) if s),
        insurance_type=seg.get(4),
        plan=seg.get(5),
        period=seg.get(6),
        amount_cents=_money(seg, 7),
        percent=_percent(seg, 8),
        in_network=seg.get(12),
    )


def _plan_dates(
    seg: Segment, begins: date | None, ends: date | None
) -> tuple[date | None, date | None]:
    """The plan's (begins, ends) after a subscriber DTP: 346 begin, 347 end, 291 the plan."""
    start, end = _dates(seg)
    if seg.get(1) == "346":
        return start, ends
    if seg.get(1) == "347":
        return begins, start
    if seg.get(1) == "291":
        return start, end if end is not None else ends
    return begins, ends


def _pick(
    benefits: list[Benefit], code: str, what: str
) -> tuple[int | Decimal | None, int | Decimal | None]:
    """(in-network value, out-of-network value) of a benefit: EB12 Y/W/unsaid first, N apart;
    the individual coverage level before the family's."""

    def value(b: Benefit) -> int | Decimal | None:
        return b.amount_cents if what == "amount" else b.percent

    found = [b for b in benefits if b.code == code and value(b) is not None]
    # The individual level first (stable: the file's order within a level).
    found.sort(key=lambda b: b.coverage_level not in INDIVIDUAL_LEVELS)
    inside = next((value(b) for b in found if b.in_network in ("Y", "W", "", "U")), None)
    outside = next((value(b) for b in found if b.in_network == "N"), None)
    return inside, outside
