"""Reading X12 835 remittance advice (005010X221A1), strictly (ADR 0604).

Money is posted from what is read here, so only a complete interchange is read
(``x12_envelope``: separators, trailers, counts, X12 amounts); anything else is an
:class:`X12Error` naming the segment, raised before anything is posted. The one
imperfection still read with a warning is a composite (SVC01) split by a separator
other than ISA16: it names a procedure code, never money or identity. An 835 whose
check does not balance (BPR02 vs CLP04 and PLB) is posted with a warning: it is the
payer's statement of what it paid.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from halcyon.billing.domain.x12 import Segment, Separators, X12Error
from halcyon.billing.domain.x12_envelope import (
    FunctionalGroup,
    Interchange,
    TransactionSet,
    read_cents,
    read_interchange,
)

# CLP02 claim status codes (X12 code source 507 as used by 005010X221A1).
DENIED_STATUS = "4"
REVERSAL_STATUS = "22"
IMPLEMENTATION = "005010X221"
# CAS01 claim adjustment group codes: contractual, patient responsibility, other,
# payer initiated, correction/reversal.
GROUP_CODES = ("CO", "PR", "OA", "PI", "CR")
KNOWN_COMPONENT_SEPARATORS = (":", ">", "<", "|", "^", "\\")
# Adjustments, service lines and remarks one claim payment may carry. Each is stored in
# the payment, the claim and the work item, which must each fit one MongoDB document
# (16 MB); a real claim payment (at most 999 service lines) has far fewer.
MAX_CLAIM_PAYMENT_ITEMS = 6000
MAX_WARNINGS = 50


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
        """Every CARC with its group (``PR-27``), patient responsibility included: a denial
        whose only reason is in the PR group still says why."""
        return sorted({f"{a.group}-{a.reason}" for a in self.all_adjustments})

    @property
    def remark_codes(self) -> list[str]:
        """RARCs: service LQ*HE and claim MIA/MOA remarks."""
        return sorted({r for s in self.services for r in s.remarks} | set(self.remarks))


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
    key: str  # the interchange (sender + ISA13), GS06 and ST02: unique per transaction
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
    file_sha256: str  # of the bytes as received
    interchange: Interchange
    transactions: list[RemittanceTransaction]
    warnings: list[str] = field(default_factory=list)

    @property
    def separators(self) -> Separators:
        return self.interchange.separators


def _key(*parts: str) -> str:
    """A short stable id from parts; length-prefixed, so no two part lists collide."""
    return hashlib.sha256("".join(f"{len(p)}:{p}" for p in parts).encode()).hexdigest()[:32]


def claim_payment_id(tenant: str, transaction: RemittanceTransaction, claim: ClaimPayment) -> str:
    """The file's own keys, never an amount: interchange (sender + ISA13), GS06, ST02,
    TRN02, CLP01, CLP07, and which of the identical (CLP01, CLP07) pairs this is. The
    agency comes first: ids are unique in a collection all agencies share, and two agencies
    may hold the same file (a billing company, a misrouted resend)."""
    return "pay:" + _key(
        tenant,
        transaction.key,
        transaction.trace_number,
        claim.patient_control_number,
        claim.payer_claim_number,
        str(claim.occurrence),
    )


def provider_adjustment_id(tenant: str, transaction: RemittanceTransaction, index: int) -> str:
    """The agency's ``index``-th PLB adjustment (reason/amount pair) of the transaction."""
    return "plb:" + _key(tenant, transaction.key, transaction.trace_number, "plb", str(index))


def read_835(raw: bytes) -> Remittance:
    """Read a complete 835 interchange. Raises X12Error (naming the segment) for anything
    that is not one; never another exception."""
    interchange = read_interchange(raw)
    warnings: list[str] = []
    transactions: list[RemittanceTransaction] = []
    for group, transaction in interchange.transactions():
        gs = group.header
        if group.functional_id != "HP":
            raise X12Error("GS", gs.position, f"GS01 is {group.functional_id!r}, not HP (835)")
        if not group.version.startswith(IMPLEMENTATION):
            raise X12Error(
                "GS", gs.position, f"GS08 is {group.version!r}, not {IMPLEMENTATION}A1 (835)"
            )
        st = transaction.header
        if transaction.identifier != "835":
            raise X12Error("ST", st.position, f"ST01 is {transaction.identifier!r}, not 835")
        reader = _Reader(interchange, group, warnings)
        transactions.append(reader.transaction(transaction))
    if len(warnings) > MAX_WARNINGS:
        # Kept in the summary and the file record: bounded, however many segments warn;
        # money first (a check that does not balance), then the rest in file order.
        warnings = sorted(warnings, key=lambda w: "BPR02" not in w)
        more = len(warnings) - MAX_WARNINGS
        warnings = [*warnings[:MAX_WARNINGS], f"... and {more} more warnings"]
    return Remittance(hashlib.sha256(raw).hexdigest(), interchange, transactions, warnings)


class _Reader:
    def __init__(
        self, interchange: Interchange, group: FunctionalGroup, warnings: list[str]
    ) -> None:
        self.interchange = interchange
        self.group = group
        self.sep = interchange.separators
        self.warnings = warnings

    def transaction(self, transaction: TransactionSet) -> RemittanceTransaction:
        self.current = transaction.header
        try:
            return self._transaction(transaction)
        except X12Error:
            raise
        except (ValueError, ArithmeticError, LookupError, TypeError) as exc:
            # A defect of this reader rather than of the file; the sender still gets a
            # problem naming where reading stopped, never a 500.
            at = self.current
            raise X12Error(at.tag, at.position, f"cannot be read: {exc}") from None

    def _transaction(self, transaction: TransactionSet) -> RemittanceTransaction:
        segs = list(transaction.segments)
        st = segs[0]
        bpr = next((s for s in segs if s.tag == "BPR"), None)
        if bpr is None:
            raise X12Error("BPR", st.position, f"transaction {st.get(2)} has no BPR (payment)")
        payment = read_cents(bpr, 2)
        trn = next((s for s in segs if s.tag == "TRN"), None)
        if trn is None or not trn.get(2):
            # TRN02 (check or EFT number) is required and part of every payment's identity.
            raise X12Error("TRN", st.position, f"transaction {st.get(2)} has no TRN02 (trace)")
        read = _TransactionDraft()
        for seg in segs[1:]:
            self.current = seg
            self._segment(read, seg)
        read.close_claim()
        transaction_read = RemittanceTransaction(
            control_number=st.get(2),
            payment_cents=payment,
            handling=bpr.get(1),
            method=bpr.get(4),
            trace_number=trn.get(2),
            key=_key(
                self.interchange.sender,
                self.interchange.control_number,
                self.group.control_number,
                transaction.control_number,
            ),
            payer_name=read.payer_name,
            payer_id=read.payer_id or trn.get(3),
            payee_name=read.payee_name,
            payee_id=read.payee_id,
            payment_date=_date(bpr.get(16)),
            claims=tuple(read.claims),
            provider_adjustments=tuple(read.plbs),
        )
        if not transaction_read.balances:
            self.warnings.append(
                f"transaction {st.get(2)}: BPR02 does not equal claim payments minus PLB"
            )
        return transaction_read

    def _segment(self, read: _TransactionDraft, seg: Segment) -> None:
        """Apply one segment of a transaction's body to what is being read."""
        tag = seg.tag
        claim, service = read.claim, read.service
        if tag in ("N1", "REF") and claim is None:
            read.party(seg)
        elif tag == "CLP":
            read.close_claim()
            read.claim = read.claim_start(seg)
        elif tag == "SVC":
            if claim is None:
                raise X12Error("SVC", seg.position, "service payment outside a claim (CLP)")
            read.close_service()
            read.service = self._service_start(seg)
        elif tag == "CAS":
            target = service if service is not None else claim
            if target is None:
                raise X12Error("CAS", seg.position, "adjustment outside a claim (CLP)")
            target.adjustments.extend(_adjustments(seg))
        elif tag == "LQ" and service is not None:
            if seg.get(1) == "HE":
                service.remarks.append(seg.get(2))
        elif tag in ("MOA", "MIA") and claim is not None:
            # MOA03-07 / MIA05,20-23 carry claim-level remark codes (RARC).
            indexes = range(3, 8) if tag == "MOA" else (5, 20, 21, 22, 23)
            claim.remarks.extend(seg.get(i) for i in indexes if seg.get(i))
        elif tag == "DTM" and service is not None and seg.get(1) in ("472", "150"):
            service.date = _date(seg.get(2))
        elif tag == "PLB":
            read.close_claim()
            read.plbs.extend(self._provider_adjustments(seg))

    def _service_start(self, seg: Segment) -> _ServiceDraft:
        composite = seg.get(1)
        parts = self._components(composite, seg)
        if len(parts) < 2 or not parts[1]:
            raise X12Error("SVC", seg.position, f"SVC01 names no procedure: {composite!r}")
        if not seg.get(2):
            self.warnings.append(f"SVC #{seg.position} has no SVC02 charge: read as 0")
        return _ServiceDraft(
            procedure=parts[1],
            modifiers=tuple(p for p in parts[2:6] if p),
            charge=read_cents(seg, 2, required=False),
            paid=read_cents(seg, 3, required=False),
            units=seg.get(5) or None,
        )

    def _components(self, composite: str, seg: Segment) -> list[str]:
        if self.sep.component in composite:
            return composite.split(self.sep.component)
        for other in KNOWN_COMPONENT_SEPARATORS:
            if other != self.sep.component and other in composite:
                self.warnings.append(
                    f"{seg.tag} #{seg.position} separates components with {other!r}, "
                    f"not the ISA16 {self.sep.component!r}"
                )
                return composite.split(other)
        return [composite]

    def _provider_adjustments(self, seg: Segment) -> list[ProviderAdjustment]:
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
                    amount_cents=read_cents(seg, index + 1),
                )
            )
        if not out:
            raise X12Error("PLB", seg.position, "PLB03 (adjustment reason) is missing")
        return out


def _adjustments(seg: Segment) -> list[Adjustment]:
    group = seg.get(1)
    if group not in GROUP_CODES:
        raise X12Error(
            "CAS",
            seg.position,
            f"CAS01 {group[:10]!r} is not a group code ({'/'.join(GROUP_CODES)})",
        )
    out = []
    for index in range(2, 20, 3):
        reason = seg.get(index)
        if not reason:
            break
        out.append(
            Adjustment(
                group=group,
                reason=reason,
                amount_cents=read_cents(seg, index + 1),
                quantity=seg.get(index + 2) or None,
            )
        )
    if not out:
        raise X12Error("CAS", seg.position, "CAS02 (adjustment reason) is missing")
    return out


@dataclass
class _ServiceDraft:
    """An SVC service payment while its CAS, LQ and DTM segments are being read."""

    procedure: str
    modifiers: tuple[str, ...]
    charge: int
    paid: int
    units: str | None
    date: date | None = None
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    def payment(self) -> ServicePayment:
        return ServicePayment(
            procedure=self.procedure,
            modifiers=self.modifiers,
            charge_cents=self.charge,
            paid_cents=self.paid,
            units=self.units,
            service_date=self.date,
            adjustments=tuple(self.adjustments),
            remarks=tuple(self.remarks),
        )


@dataclass
class _ClaimDraft:
    """A CLP claim payment while its CAS, MOA/MIA and service segments are being read."""

    number: str
    status: str
    charge: int
    paid: int
    patient: int | None  # CLP05, when given
    filing: str
    icn: str
    occurrence: int
    position: int
    adjustments: list[Adjustment] = field(default_factory=list)
    services: list[ServicePayment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    def payment(self) -> ClaimPayment:
        adjustments = tuple(self.adjustments)
        services = tuple(self.services)
        items = (
            len(adjustments)
            + len(self.remarks)
            + sum(1 + len(s.adjustments) + len(s.remarks) for s in services)
        )
        if items > MAX_CLAIM_PAYMENT_ITEMS:
            raise X12Error(
                "CLP",
                self.position,
                f"claim payment {self.number} is too large: {items} adjustments, service "
                f"lines and remarks (at most {MAX_CLAIM_PAYMENT_ITEMS})",
            )
        patient = self.patient
        if patient is None:
            # CLP05 absent: the PR-group adjustments are what the patient owes.
            everything = adjustments + tuple(a for s in services for a in s.adjustments)
            patient = sum(a.amount_cents for a in everything if a.group == "PR")
        return ClaimPayment(
            patient_control_number=self.number,
            status=self.status,
            charge_cents=self.charge,
            paid_cents=self.paid,
            patient_responsibility_cents=patient,
            filing_indicator=self.filing,
            payer_claim_number=self.icn,
            adjustments=adjustments,
            services=services,
            remarks=tuple(self.remarks),
            occurrence=self.occurrence,
        )


@dataclass
class _TransactionDraft:
    """What one 835 transaction's body has given so far."""

    payer_name: str = ""
    payer_id: str = ""
    payee_name: str = ""
    payee_id: str = ""
    claims: list[ClaimPayment] = field(default_factory=list)
    plbs: list[ProviderAdjustment] = field(default_factory=list)
    seen: dict[tuple[str, str], int] = field(default_factory=dict)
    claim: _ClaimDraft | None = None
    service: _ServiceDraft | None = None

    def party(self, seg: Segment) -> None:
        """N1*PR / N1*PE (payer, payee) and REF*2U (payer id) before the first claim."""
        if seg.tag == "N1" and seg.get(1) == "PR":
            self.payer_name, self.payer_id = seg.get(2), seg.get(4)
        elif seg.tag == "N1" and seg.get(1) == "PE":
            self.payee_name, self.payee_id = seg.get(2), seg.get(4)
        elif seg.tag == "REF" and seg.get(1) == "2U" and not self.payer_id:
            self.payer_id = seg.get(2)

    def claim_start(self, seg: Segment) -> _ClaimDraft:
        number = seg.get(1)
        if not number:
            raise X12Error("CLP", seg.position, "CLP01 (patient control number) is empty")
        key = (number, seg.get(7))
        self.seen[key] = self.seen.get(key, 0) + 1
        paid = read_cents(seg, 4)
        charge = read_cents(seg, 3)
        claim = _ClaimDraft(
            number=number,
            status=seg.get(2),
            charge=charge,
            paid=paid,
            patient=read_cents(seg, 5, required=False) if seg.get(5) else None,
            filing=seg.get(6),
            icn=seg.get(7),
            occurrence=self.seen[key] - 1,
            position=seg.position,
        )
        if not seg.get(2):
            raise X12Error("CLP", seg.position, "CLP02 (claim status) is empty")
        return claim

    def close_service(self) -> None:
        if self.service is not None and self.claim is not None:
            self.claim.services.append(self.service.payment())
        self.service = None

    def close_claim(self) -> None:
        self.close_service()
        if self.claim is not None:
            self.claims.append(self.claim.payment())
        self.claim = None


def _date(raw: str) -> date | None:
    """CCYYMMDD, else None (a date is informative here, never money or identity)."""
    if len(raw) != 8 or not raw.isascii() or not raw.isdigit():
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None
