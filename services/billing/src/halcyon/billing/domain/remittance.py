"""Reading X12 835 remittance advice (005010X221A1), leniently.

Real remittances are often imperfect. What can be read with confidence is
read, each imperfection becomes a warning, and only what cannot be understood
(no separators, an amount that is not a number, a claim outside a transaction)
is refused with an :class:`X12Error` naming the segment, before anything is posted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import cast

from halcyon.billing.domain.x12 import (
    Segment,
    Separators,
    X12Error,
    parse_cents,
    read_separators,
    split_segments,
)

# CLP02 claim status codes (X12 code source 507 as used by 005010X221A1).
DENIED_STATUS = "4"
REVERSAL_STATUS = "22"
KNOWN_COMPONENT_SEPARATORS = (":", ">", "<", "|", "^", "\\")


@dataclass(frozen=True)
class Adjustment:
    """One CAS triplet: group code (CO/PR/OA/PI/CR), CARC reason, amount."""

    group: str
    reason: str
    amount_cents: int
    quantity: str | None = None


@dataclass(frozen=True)
class ServicePayment:
    procedure: str
    modifiers: tuple[str, ...]
    charge_cents: int
    paid_cents: int
    units: str | None
    service_date: date | None
    adjustments: tuple[Adjustment, ...]
    remarks: tuple[str, ...]  # RARC codes from LQ*HE


@dataclass(frozen=True)
class ClaimPayment:
    patient_control_number: str  # CLP01: our claim number as we sent it in CLM01
    status: str
    charge_cents: int
    paid_cents: int
    patient_responsibility_cents: int
    filing_indicator: str
    payer_claim_number: str
    adjustments: tuple[Adjustment, ...]  # claim-level CAS
    services: tuple[ServicePayment, ...]
    remarks: tuple[str, ...]
    occurrence: int  # how many identical (CLP01, CLP07) came before in this transaction

    @property
    def all_adjustments(self) -> tuple[Adjustment, ...]:
        return self.adjustments + tuple(a for s in self.services for a in s.adjustments)

    @property
    def is_denial(self) -> bool:
        """Denied (CLP02=4), or nothing paid and nothing left to the patient on a real charge."""
        if self.status == DENIED_STATUS:
            return True
        return (
            self.status != REVERSAL_STATUS
            and self.charge_cents > 0
            and self.paid_cents == 0
            and self.patient_responsibility_cents == 0
        )

    @property
    def denial_codes(self) -> list[str]:
        return sorted({f"{a.group}-{a.reason}" for a in self.all_adjustments if a.group != "PR"})


@dataclass(frozen=True)
class ProviderAdjustment:
    """One PLB reason/amount pair. Positive amounts reduce the payment (TR3 PLB note)."""

    provider_id: str
    fiscal_period: str
    reason: str
    reference: str
    amount_cents: int


@dataclass(frozen=True)
class RemittanceTransaction:
    control_number: str
    payment_cents: int  # BPR02
    handling: str  # BPR01: I = remittance with payment, H = notification only ...
    method: str  # BPR04: ACH, CHK, NON ...
    trace_number: str  # TRN02: check or EFT number
    payer_name: str
    payer_id: str
    payee_name: str
    payee_id: str
    payment_date: date | None
    claims: tuple[ClaimPayment, ...]
    provider_adjustments: tuple[ProviderAdjustment, ...]

    @property
    def balances(self) -> bool:
        """BPR02 = sum of CLP04 - sum of PLB amounts (TR3 1.10.2.1 balancing)."""
        paid = sum(c.paid_cents for c in self.claims)
        plb = sum(p.amount_cents for p in self.provider_adjustments)
        return paid - plb == self.payment_cents


@dataclass
class Remittance:
    file_sha256: str
    separators: Separators
    transactions: list[RemittanceTransaction]
    warnings: list[str] = field(default_factory=list)


def claim_payment_id(transaction: RemittanceTransaction, claim: ClaimPayment) -> str:
    """The same claim payment in the same check gives the same id, whatever file carries it."""
    basis = "|".join(
        [
            transaction.payer_id or transaction.payer_name,
            transaction.trace_number,
            claim.patient_control_number,
            claim.payer_claim_number,
            claim.status,
            str(claim.paid_cents),
            str(claim.occurrence),
        ]
    )
    return "pay:" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def provider_adjustment_id(transaction: RemittanceTransaction, index: int) -> str:
    basis = f"{transaction.payer_id}|{transaction.trace_number}|plb|{index}"
    return "plb:" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def read_835(raw: bytes) -> Remittance:
    """Parse an 835 interchange. Raises X12Error for what cannot be understood."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    warnings: list[str] = []
    separators, body = read_separators(text, warnings)
    segments = split_segments(body, separators)
    reader = _Reader(segments, separators, warnings)
    transactions = reader.read()
    if not transactions:
        raise X12Error("ST", None, "no 835 transaction set (ST*835) in the file")
    return Remittance(digest, separators, transactions, warnings)


class _Reader:
    def __init__(self, segments: list[Segment], separators: Separators, warnings: list[str]):
        self.segments = segments
        self.sep = separators
        self.warnings = warnings

    def read(self) -> list[RemittanceTransaction]:
        transactions: list[RemittanceTransaction] = []
        isa_control: str | None = None
        gs_count = 0
        group_st = 0
        current: list[Segment] | None = None
        for seg in self.segments:
            if seg.tag == "ISA":
                isa_control = seg.get(13)
            elif seg.tag == "GS":
                gs_count += 1
                group_st = 0
                if seg.get(1) and seg.get(1) != "HP":
                    self.warnings.append(f"GS01 is {seg.get(1)!r}, not HP (claim payment)")
            elif seg.tag == "ST":
                if current is not None:
                    self.warnings.append(f"ST at #{seg.position} opened before SE closed the last")
                    transactions.append(self._transaction(current, closed=False))
                if seg.get(1) != "835":
                    raise X12Error("ST", seg.position, f"ST01 is {seg.get(1)!r}, not 835")
                current = [seg]
                group_st += 1
            elif seg.tag == "SE":
                if current is None:
                    raise X12Error("SE", seg.position, "SE without an ST")
                current.append(seg)
                transactions.append(self._transaction(current, closed=True))
                current = None
            elif seg.tag == "GE":
                if seg.get(1) and seg.get(1) != str(group_st):
                    self.warnings.append(
                        f"GE01 says {seg.get(1)} transaction sets, found {group_st}"
                    )
            elif seg.tag == "IEA":
                if isa_control is not None and seg.get(2) != isa_control:
                    self.warnings.append(f"IEA02 {seg.get(2)} does not match ISA13 {isa_control}")
            elif current is not None:
                current.append(seg)
            else:
                raise X12Error(seg.tag, seg.position, "segment outside any ST/SE transaction set")
        if current is not None:
            self.warnings.append("the last transaction set has no SE")
            transactions.append(self._transaction(current, closed=False))
        if isa_control is not None and gs_count == 0:
            self.warnings.append("no GS functional group")
        return transactions

    def _transaction(self, segs: list[Segment], *, closed: bool) -> RemittanceTransaction:
        st = segs[0]
        if closed:
            se = segs[-1]
            declared = se.get(1)
            if declared != str(len(segs)):
                self.warnings.append(
                    f"SE01 of transaction {st.get(2)} says {declared} segments, counted {len(segs)}"
                )
            if se.get(2) and se.get(2) != st.get(2):
                self.warnings.append(f"SE02 {se.get(2)} does not match ST02 {st.get(2)}")
            segs = segs[:-1]
        bpr = next((s for s in segs if s.tag == "BPR"), None)
        if bpr is None:
            raise X12Error("BPR", st.position, f"transaction {st.get(2)} has no BPR (payment)")
        payment = parse_cents(bpr, 2)
        trn = next((s for s in segs if s.tag == "TRN"), None)
        if trn is None:
            self.warnings.append(f"transaction {st.get(2)} has no TRN: trace number unknown")
        payer_name = payer_id = payee_name = payee_id = ""
        claims: list[ClaimPayment] = []
        plbs: list[ProviderAdjustment] = []
        seen: dict[tuple[str, str], int] = {}
        claim: dict[str, object] | None = None
        service: dict[str, object] | None = None

        def close_service() -> None:
            nonlocal service
            if service is not None and claim is not None:
                claim_services = claim["services"]
                assert isinstance(claim_services, list)
                claim_services.append(_service(service))
            service = None

        def close_claim() -> None:
            nonlocal claim
            close_service()
            if claim is not None:
                claims.append(_claim(claim))
            claim = None

        for seg in segs[1:]:
            tag = seg.tag
            if tag == "N1" and claim is None:
                if seg.get(1) == "PR":
                    payer_name, payer_id = seg.get(2), seg.get(4)
                elif seg.get(1) == "PE":
                    payee_name, payee_id = seg.get(2), seg.get(4)
            elif tag == "REF" and claim is None and seg.get(1) == "2U" and not payer_id:
                payer_id = seg.get(2)
            elif tag == "CLP":
                close_claim()
                number = seg.get(1)
                if not number:
                    raise X12Error("CLP", seg.position, "CLP01 (patient control number) is empty")
                key = (number, seg.get(7))
                seen[key] = seen.get(key, 0) + 1
                paid = parse_cents(seg, 4)
                charge = parse_cents(seg, 3)
                claim = {
                    "number": number,
                    "status": seg.get(2),
                    "charge": charge,
                    "paid": paid,
                    "pr": parse_cents(seg, 5, required=False) if seg.get(5) else None,
                    "filing": seg.get(6),
                    "icn": seg.get(7),
                    "adjustments": [],
                    "services": [],
                    "remarks": [],
                    "occurrence": seen[key] - 1,
                }
                if not seg.get(2):
                    raise X12Error("CLP", seg.position, "CLP02 (claim status) is empty")
            elif tag == "SVC":
                if claim is None:
                    raise X12Error("SVC", seg.position, "service payment outside a claim (CLP)")
                close_service()
                service = self._service_start(seg)
            elif tag == "CAS":
                target = service if service is not None else claim
                if target is None:
                    raise X12Error("CAS", seg.position, "adjustment outside a claim (CLP)")
                adjustments = target["adjustments"]
                assert isinstance(adjustments, list)
                adjustments.extend(_adjustments(seg))
            elif tag == "LQ" and service is not None:
                if seg.get(1) == "HE":
                    remarks = service["remarks"]
                    assert isinstance(remarks, list)
                    remarks.append(seg.get(2))
            elif tag in ("MOA", "MIA") and claim is not None:
                # MOA03-07 / MIA05,20-23 carry claim-level remark codes (RARC).
                indexes = range(3, 8) if tag == "MOA" else (5, 20, 21, 22, 23)
                remarks = claim["remarks"]
                assert isinstance(remarks, list)
                remarks.extend(seg.get(i) for i in indexes if seg.get(i))
            elif tag == "DTM" and service is not None and seg.get(1) in ("472", "150"):
                service["date"] = _date(seg.get(2))
            elif tag == "PLB":
                close_claim()
                plbs.extend(self._provider_adjustments(seg, len(plbs)))
        close_claim()
        if not payer_id and trn is not None:
            payer_id = trn.get(3)
        transaction = RemittanceTransaction(
            control_number=st.get(2),
            payment_cents=payment,
            handling=bpr.get(1),
            method=bpr.get(4),
            trace_number=trn.get(2) if trn else "",
            payer_name=payer_name,
            payer_id=payer_id,
            payee_name=payee_name,
            payee_id=payee_id,
            payment_date=_date(bpr.get(16)),
            claims=tuple(claims),
            provider_adjustments=tuple(plbs),
        )
        if not transaction.balances:
            self.warnings.append(
                f"transaction {st.get(2)}: BPR02 does not equal claim payments minus PLB"
            )
        return transaction

    def _service_start(self, seg: Segment) -> dict[str, object]:
        composite = seg.get(1)
        parts = self._components(composite, seg)
        if len(parts) < 2 or not parts[1]:
            raise X12Error("SVC", seg.position, f"SVC01 names no procedure: {composite!r}")
        if not seg.get(2):
            self.warnings.append(f"SVC #{seg.position} has no SVC02 charge: read as 0")
        return {
            "procedure": parts[1],
            "modifiers": tuple(p for p in parts[2:6] if p),
            "charge": parse_cents(seg, 2, required=False),
            "paid": parse_cents(seg, 3, required=False),
            "units": seg.get(5) or None,
            "date": None,
            "adjustments": [],
            "remarks": [],
        }

    def _components(self, composite: str, seg: Segment) -> list[str]:
        if self.sep.component in composite:
            return composite.split(self.sep.component)
        for other in KNOWN_COMPONENT_SEPARATORS:
            if other != self.sep.component and other in composite:
                self.warnings.append(
                    f"SVC #{seg.position} separates components with {other!r}, "
                    f"not the ISA16 {self.sep.component!r}"
                )
                return composite.split(other)
        return [composite]

    def _provider_adjustments(self, seg: Segment, already: int) -> list[ProviderAdjustment]:
        out = []
        for index in range(3, 15, 2):
            composite = seg.get(index)
            if not composite:
                break
            parts = self._components(composite, seg)
            out.append(
                ProviderAdjustment(
                    provider_id=seg.get(1),
                    fiscal_period=seg.get(2),
                    reason=parts[0],
                    reference=parts[1] if len(parts) > 1 else "",
                    amount_cents=parse_cents(seg, index + 1),
                )
            )
        if not out:
            raise X12Error("PLB", seg.position, "PLB03 (adjustment reason) is missing")
        return out


def _adjustments(seg: Segment) -> list[Adjustment]:
    group = seg.get(1)
    if not group:
        raise X12Error("CAS", seg.position, "CAS01 (group code) is missing")
    out = []
    for index in range(2, 20, 3):
        reason = seg.get(index)
        if not reason:
            break
        out.append(
            Adjustment(
                group=group,
                reason=reason,
                amount_cents=parse_cents(seg, index + 1),
                quantity=seg.get(index + 2) or None,
            )
        )
    if not out:
        raise X12Error("CAS", seg.position, "CAS02 (adjustment reason) is missing")
    return out


def _service(raw: dict[str, object]) -> ServicePayment:
    return ServicePayment(
        procedure=str(raw["procedure"]),
        modifiers=raw["modifiers"],  # type: ignore[arg-type]
        charge_cents=int(raw["charge"]),  # type: ignore[call-overload]
        paid_cents=int(raw["paid"]),  # type: ignore[call-overload]
        units=raw["units"],  # type: ignore[arg-type]
        service_date=raw["date"],  # type: ignore[arg-type]
        adjustments=tuple(cast(list[Adjustment], raw["adjustments"])),
        remarks=tuple(cast(list[str], raw["remarks"])),
    )


def _claim(raw: dict[str, object]) -> ClaimPayment:
    adjustments: tuple[Adjustment, ...] = tuple(cast(list[Adjustment], raw["adjustments"]))
    services: tuple[ServicePayment, ...] = tuple(cast(list[ServicePayment], raw["services"]))
    patient = raw["pr"]
    if patient is None:
        # CLP05 absent: the PR-group adjustments are what the patient owes.
        everything = adjustments + tuple(a for s in services for a in s.adjustments)
        patient = sum(a.amount_cents for a in everything if a.group == "PR")
    return ClaimPayment(
        patient_control_number=str(raw["number"]),
        status=str(raw["status"]),
        charge_cents=int(raw["charge"]),  # type: ignore[call-overload]
        paid_cents=int(raw["paid"]),  # type: ignore[call-overload]
        patient_responsibility_cents=int(patient),  # type: ignore[call-overload]
        filing_indicator=str(raw["filing"]),
        payer_claim_number=str(raw["icn"]),
        adjustments=adjustments,
        services=services,
        remarks=tuple(cast(list[str], raw["remarks"])),
        occurrence=int(raw["occurrence"]),  # type: ignore[call-overload]
    )


def _date(raw: str) -> date | None:
    try:
        return datetime.strptime(raw, "%Y%m%d").date()
    except ValueError:
        return None
