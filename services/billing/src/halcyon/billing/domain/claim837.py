"""Writing X12 837P professional claims, 005010X222A1 (the HIPAA-adopted version).

One interchange per batch (one payer): ISA/GS/ST ... SE/GE/IEA, one billing
provider HL (2000A), and per claim a subscriber HL (2000B), a patient HL (2000C)
when the patient is not the subscriber, the claim (2300) with its diagnoses,
rendering provider (2310B), other payer (2320/2330 for secondary claims) and
service lines (2400) with diagnosis pointers, the drug given on a line (2410
LIN*N4 NDC + CTP quantity) and, for secondary claims, the primary payer's line
adjudication (2430 SVD/CAS/DTP).

What a clearinghouse refuses is refused here first, naming the field
(``ClaimRefused``): more than 50 service lines, 12 diagnoses, 4 modifiers or 4
diagnosis pointers per line, a pointer to a diagnosis the claim does not list,
units that are not positive, and text that cannot be written in ASCII (names and
addresses are transliterated: Núñez -> NUNEZ). Nothing is ever silently truncated.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from halcyon.billing.domain.x12 import SegmentWriter, Separators, format_amount

IMPLEMENTATION = "005010X222A1"
# SBR02/PAT01 individual relationship codes (005010X222A1): 18 = self.
SELF = "18"
# Responsibility sequence (SBR01): P primary, S secondary, T tertiary.
SEQUENCE = {"primary": "P", "secondary": "S", "tertiary": "T"}
# 005010X222A1 limits: 2400 loop repeats 50 times, HI holds 12 diagnoses, SV101 carries
# 4 modifiers (SV101-3..6), SV107 4 diagnosis pointers.
MAX_LINES = 50
MAX_DIAGNOSES = 12
MAX_MODIFIERS = 4
MAX_POINTERS = 4
# Data element sizes (005010X222A1): amounts (CLM02, SV102) are R 1/18, units (SV104) R 1/15,
# a procedure modifier (SV101-3..6) is ID 2/2.
MAX_AMOUNT_CHARACTERS = 18
MAX_UNIT_DIGITS = 15
_MODIFIER = re.compile(r"[A-Z0-9]{2}", re.ASCII)
# Letters NFKD does not decompose but that have a customary ASCII spelling.
_NO_DECOMPOSITION = {
    "ß": "ss",
    "Æ": "AE",
    "æ": "ae",
    "Ø": "O",
    "ø": "o",
    "Œ": "OE",
    "œ": "oe",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Þ": "TH",
    "þ": "th",
    "\u0131": "i",  # dotless i
    "\u2019": "'",  # right single quotation mark (as phones type O'Brien)
    "\u2018": "'",
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
}


class ClaimRefused(ValueError):
    """A claim a payer would reject, refused before anything is written; names the field."""

    def __init__(self, field: str, problem: str, claim_number: str | None = None) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.claim_number = claim_number


def ascii_text(value: str, field: str) -> str:
    """Transliterate to ASCII for the X12 character set: Núñez -> Nunez, Zoë -> Zoe.

    NFKD splits an accented letter into its base letter and combining marks, which are
    dropped; a handful of letters without a decomposition (ß, Ø, Ł ...) have a customary
    spelling. Anything else (e.g. a name in another script) is refused, never guessed.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", value):
        if unicodedata.combining(ch):
            continue
        ch = _NO_DECOMPOSITION.get(ch, ch)
        if not all(" " <= c <= "~" for c in ch):
            raise ClaimRefused(
                field, f"{value!r} has {ch!r}, which has no ASCII spelling: enter it in ASCII"
            )
        out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    state: str
    postal_code: str
    line2: str | None = None


@dataclass(frozen=True)
class Party:
    """A person (given name set) or an organisation (only ``name``)."""

    name: str  # family name for a person, organisation name otherwise
    identifier: str
    given_name: str | None = None
    address: Address | None = None
    date_of_birth: date | None = None
    sex: str = "U"  # DMG03: F | M | U

    @property
    def is_person(self) -> bool:
        return self.given_name is not None


@dataclass(frozen=True)
class BillingProvider:
    name: str
    npi: str
    tax_id: str  # EIN, REF*EI
    address: Address
    taxonomy: str | None = None


@dataclass(frozen=True)
class Adjudication:
    """What an earlier payer did with a line (2430) or a claim (2320 CAS)."""

    payer_id: str
    paid_cents: int
    adjustments: tuple[tuple[str, str, int], ...]  # (group, CARC, cents)
    adjudicated_on: date


@dataclass(frozen=True)
class DrugIdentification:
    """2410 drug identification: the NDC of what was given and how much of it.

    Payers price a drug code (e.g. HCPCS S0013 per 1 mg) against the exact product, so a
    line for a drug the agency bought names the package's NDC and the quantity given.
    """

    ndc: str  # 11 digits, 5-4-2, no hyphens (LIN03 with LIN02 = N4)
    quantity: Decimal  # CTP04
    unit: str = "ME"  # CTP05-1: F2 international unit, GR gram, ME milligram, ML, UN unit


@dataclass(frozen=True)
class ServiceLine:
    cpt: str
    modifiers: tuple[str, ...]
    charge_cents: int
    units: int
    service_date: date
    diagnosis_pointers: tuple[int, ...]
    place_of_service: str | None = None
    rendering: Party | None = None  # only when it differs from the claim's rendering
    prior: Adjudication | None = None
    control_number: str | None = None  # REF*6R: our charge id, echoed back in 835 REF*6R
    drug: DrugIdentification | None = None  # 2410 when the line bills a drug supply
    # REF*G1 on the line: a prior authorization that covers this line but not the claim.
    prior_authorization: str | None = None


@dataclass(frozen=True)
class OtherPayer:
    """The payer that adjudicated before (2320/2330) for a secondary claim."""

    sequence: str  # P | S | T of that payer
    relationship: str  # SBR02 of the patient to that payer's subscriber
    filing_indicator: str
    subscriber: Party
    payer: Party
    paid_cents: int
    claim_adjustments: tuple[tuple[str, str, int], ...] = ()
    patient_responsibility_cents: int | None = None
    group_number: str | None = None


@dataclass(frozen=True)
class Claim:
    claim_number: str  # CLM01, echoed back as CLP01 in the 835
    sequence: str  # P | S | T: this payer's responsibility
    relationship: str  # patient to subscriber, "18" when the same person
    filing_indicator: str  # SBR09: CI commercial, MB Medicare B, MC Medicaid ...
    subscriber: Party
    patient: Party
    payer: Party
    place_of_service: str
    diagnoses: tuple[str, ...]  # ICD-10-CM, primary first (dots are dropped)
    lines: tuple[ServiceLine, ...]
    rendering: Party | None = None
    group_number: str | None = None
    frequency: str = "1"  # CLM05-3: 1 original, 7 replacement, 8 void
    # The payer's number for the claim being replaced (REF*F8, required with frequency 7/8).
    payer_claim_number: str | None = None
    other_payers: tuple[OtherPayer, ...] = field(default=())
    # 2300 REF*G1: the payer's prior-authorization number covering the claim's services.
    prior_authorization: str | None = None

    @property
    def total_cents(self) -> int:
        return sum(line.charge_cents for line in self.lines)


def validate_claim(claim: Claim) -> None:
    """Refuse what 005010X222A1 cannot carry, naming the field; never truncate."""
    number = claim.claim_number

    def refuse(field_name: str, problem: str) -> ClaimRefused:
        return ClaimRefused(field_name, problem, number)

    if not claim.lines:
        raise refuse("lines", "a claim needs at least one service line")
    if len(claim.lines) > MAX_LINES:
        raise refuse(
            "lines", f"{len(claim.lines)} service lines: a claim holds at most {MAX_LINES}"
        )
    if not claim.diagnoses:
        raise refuse("diagnoses", "a claim needs at least one ICD-10 diagnosis")
    if len(claim.diagnoses) > MAX_DIAGNOSES:
        raise refuse(
            "diagnoses",
            f"{len(claim.diagnoses)} diagnoses: a claim holds at most {MAX_DIAGNOSES}",
        )
    codes = [d.replace(".", "").upper() for d in claim.diagnoses]
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        # A clearinghouse rejects HI with the same code twice (pointers would be ambiguous).
        raise refuse("diagnoses", f"{', '.join(repeated)} listed more than once")
    for index, line in enumerate(claim.lines, start=1):
        problem = _line_problem(line, len(claim.diagnoses))
        if problem is not None:
            raise refuse(f"lines[{index}].{problem[0]}", problem[1])
    if len(format_amount(claim.total_cents)) > MAX_AMOUNT_CHARACTERS:
        raise refuse("total_cents", f"{claim.total_cents} cents does not fit CLM02")


def _line_problem(line: ServiceLine, diagnoses: int) -> tuple[str, str] | None:
    """(field, problem): the first thing of a service line SV1 cannot carry, or None."""
    if line.units <= 0:
        return "units", f"{line.cpt}: {line.units} units; units must be > 0"
    if len(str(line.units)) > MAX_UNIT_DIGITS:
        return "units", f"{line.cpt}: {line.units} units does not fit SV104"
    if line.charge_cents < 0:
        return "charge_cents", f"{line.cpt}: a charge cannot be negative"
    if len(format_amount(line.charge_cents)) > MAX_AMOUNT_CHARACTERS:
        return "charge_cents", f"{line.cpt}: {line.charge_cents} cents does not fit SV102"
    for modifier in line.modifiers:
        if not _MODIFIER.fullmatch(modifier):
            return "modifiers", f"{line.cpt}: modifier {modifier!r} is not two letters or digits"
    if len(line.modifiers) > MAX_MODIFIERS:
        return "modifiers", f"{line.cpt}: {len(line.modifiers)} modifiers; at most {MAX_MODIFIERS}"
    if not line.diagnosis_pointers:
        return "diagnosis_pointers", f"{line.cpt}: no diagnosis pointer"
    if len(line.diagnosis_pointers) > MAX_POINTERS:
        return (
            "diagnosis_pointers",
            f"{line.cpt}: {len(line.diagnosis_pointers)} pointers; at most {MAX_POINTERS}",
        )
    for pointer in line.diagnosis_pointers:
        if not 1 <= pointer <= diagnoses:
            return (
                "diagnosis_pointers",
                f"{line.cpt}: pointer {pointer} names no diagnosis (the claim lists {diagnoses})",
            )
    return None


@dataclass(frozen=True)
class Envelope:
    sender_id: str
    receiver_id: str
    control_number: int  # from the counter: ISA13, GS06 and ST02 derive from it
    created_at: datetime
    usage: str = "P"  # ISA15: P production, T test
    submitter: Party | None = None
    receiver_name: str = "RECEIVER"
    contact_phone: str = "0000000000"


def write_837p(
    envelope: Envelope,
    provider: BillingProvider,
    claims: list[Claim],
    separators: Separators | None = None,
) -> str:
    """The 837P interchange text for one batch. Claims must already be validated."""
    if not claims:
        raise ValueError("a claim file needs at least one claim")
    for claim in claims:
        validate_claim(claim)
    sep = separators or Separators()
    control = envelope.control_number
    isa_control = f"{control:09d}"
    st_control = f"{control % 10**9:04d}"
    when = envelope.created_at
    head = SegmentWriter(sep)
    head.add(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        envelope.sender_id[:15].ljust(15),
        "ZZ",
        envelope.receiver_id[:15].ljust(15),
        when.strftime("%y%m%d"),
        when.strftime("%H%M"),
        sep.repetition,
        "00501",
        isa_control,
        "0",
        envelope.usage,
        sep.component,
    )
    head.add(
        "GS",
        "HC",
        envelope.sender_id,
        envelope.receiver_id,
        when.strftime("%Y%m%d"),
        when.strftime("%H%M"),
        str(control),
        "X",
        IMPLEMENTATION,
    )
    body = SegmentWriter(sep)
    body.add("ST", "837", st_control, IMPLEMENTATION)
    body.add(
        "BHT", "0019", "00", f"B{control}", when.strftime("%Y%m%d"), when.strftime("%H%M"), "CH"
    )
    submitter = envelope.submitter or Party(name=provider.name, identifier=envelope.sender_id)
    body.add(
        "NM1",
        "41",
        "2",
        _clean(submitter.name, 60, "submitter.name"),
        "",
        "",
        "",
        "",
        "46",
        submitter.identifier,
    )
    body.add(
        "PER",
        "IC",
        _clean(provider.name, 60, "billing_provider.name"),
        "TE",
        envelope.contact_phone,
    )
    body.add(
        "NM1",
        "40",
        "2",
        _clean(envelope.receiver_name, 60, "receiver.name"),
        "",
        "",
        "",
        "",
        "46",
        envelope.receiver_id,
    )
    hl = 1
    body.add("HL", str(hl), "", "20", "1")
    if provider.taxonomy:
        body.add("PRV", "BI", "PXC", provider.taxonomy)
    body.add(
        "NM1",
        "85",
        "2",
        _clean(provider.name, 60, "billing_provider.name"),
        "",
        "",
        "",
        "",
        "XX",
        provider.npi,
    )
    _address(body, provider.address)
    body.add("REF", "EI", provider.tax_id)
    provider_hl = hl
    for claim in claims:
        try:
            hl = _claim_hierarchy(body, claim, hl, provider_hl)
        except ClaimRefused as exc:
            raise ClaimRefused(exc.field, exc.problem, claim.claim_number) from None
    body.add("SE", str(body.count + 1), st_control)
    tail = SegmentWriter(sep)
    tail.add("GE", "1", str(control))
    tail.add("IEA", "1", isa_control)
    return head.text() + body.text() + tail.text()


def _claim_hierarchy(body: SegmentWriter, claim: Claim, hl: int, provider_hl: int) -> int:
    """2000B subscriber (and 2000C patient) with the claim; returns the last HL number."""
    hl += 1
    subscriber_hl = hl
    dependent = claim.relationship != SELF
    body.add("HL", str(subscriber_hl), str(provider_hl), "22", "1" if dependent else "0")
    body.add(
        "SBR",
        claim.sequence,
        SELF if not dependent else "",
        claim.group_number or "",
        "",
        "",
        "",
        "",
        "",
        claim.filing_indicator,
    )
    _person(body, "IL", claim.subscriber, "MI", demographics=not dependent)
    body.add(
        "NM1",
        "PR",
        "2",
        _clean(claim.payer.name, 60, "payer.name"),
        "",
        "",
        "",
        "",
        "PI",
        claim.payer.identifier,
    )
    if dependent:
        hl += 1
        body.add("HL", str(hl), str(subscriber_hl), "23", "0")
        body.add("PAT", claim.relationship)
        _person(body, "QC", claim.patient, None, demographics=True)
    _claim(body, claim)
    return hl


def _claim(body: SegmentWriter, claim: Claim) -> None:
    body.add(
        "CLM",
        claim.claim_number,
        format_amount(claim.total_cents),
        "",
        "",
        [claim.place_of_service, "B", claim.frequency],
        "Y",  # provider signature on file
        "A",  # assignment accepted
        "Y",  # benefits assigned
        "Y",  # release of information
    )
    # 2300 REF order in the guide: G1 (prior authorization) before F8 (payer claim number).
    if claim.prior_authorization:
        body.add("REF", "G1", claim.prior_authorization[:50])
    if claim.frequency in ("7", "8") and claim.payer_claim_number:
        body.add("REF", "F8", claim.payer_claim_number)
    codes = [d.replace(".", "").upper() for d in claim.diagnoses]
    body.add("HI", *[["ABK" if i == 0 else "ABF", code] for i, code in enumerate(codes)])
    if claim.rendering is not None:
        _person(body, "82", claim.rendering, "XX", demographics=False, address=False)
    for other in claim.other_payers:
        body.add(
            "SBR",
            other.sequence,
            other.relationship,
            other.group_number or "",
            "",
            "",
            "",
            "",
            "",
            other.filing_indicator,
        )
        _cas(body, other.claim_adjustments)
        body.add("AMT", "D", format_amount(other.paid_cents))
        if other.patient_responsibility_cents is not None:
            body.add("AMT", "EAF", format_amount(other.patient_responsibility_cents))
        body.add("OI", "", "", "Y", "", "", "Y")
        _person(body, "IL", other.subscriber, "MI", demographics=False, address=False)
        body.add(
            "NM1",
            "PR",
            "2",
            _clean(other.payer.name, 60, "other_payer.name"),
            "",
            "",
            "",
            "",
            "PI",
            other.payer.identifier,
        )
    for number, line in enumerate(claim.lines, start=1):
        body.add("LX", str(number))
        body.add(
            "SV1",
            ["HC", line.cpt, *line.modifiers],
            format_amount(line.charge_cents),
            "UN",
            str(line.units),
            line.place_of_service
            if line.place_of_service and line.place_of_service != claim.place_of_service
            else "",
            "",
            [str(p) for p in line.diagnosis_pointers],
        )
        body.add("DTP", "472", "D8", line.service_date.strftime("%Y%m%d"))
        # 2400 REF order in the guide: G1 (prior authorization) before 6R (control number).
        if line.prior_authorization:
            body.add("REF", "G1", line.prior_authorization[:50])
        if line.control_number:
            body.add("REF", "6R", line.control_number[:50])
        if line.drug is not None:
            # 2410 sits after the 2400 REFs and before the 2420 provider loops.
            body.add("LIN", "", "N4", line.drug.ndc)
            body.add("CTP", "", "", "", _quantity(line.drug.quantity), [line.drug.unit])
        if line.rendering is not None:
            _person(body, "82", line.rendering, "XX", demographics=False, address=False)
        if line.prior is not None:
            body.add(
                "SVD",
                line.prior.payer_id,
                format_amount(line.prior.paid_cents),
                ["HC", line.cpt, *line.modifiers],
                "",
                str(line.units),
            )
            _cas(body, line.prior.adjustments)
            body.add("DTP", "573", "D8", line.prior.adjudicated_on.strftime("%Y%m%d"))


def _cas(body: SegmentWriter, adjustments: tuple[tuple[str, str, int], ...]) -> None:
    """CAS groups: one segment per group code, up to six reason/amount pairs each."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for group, reason, cents in adjustments:
        groups.setdefault(group, []).append((reason, cents))
    for group, pairs in groups.items():
        for start in range(0, len(pairs), 6):
            elements: list[str] = []
            for reason, cents in pairs[start : start + 6]:
                elements += [reason, format_amount(cents), ""]
            body.add("CAS", group, *elements)


_ROLES = {"IL": "subscriber", "QC": "patient", "82": "rendering_provider"}


def _person(
    body: SegmentWriter,
    code: str,
    party: Party,
    id_qualifier: str | None,
    *,
    demographics: bool,
    address: bool = True,
) -> None:
    kind = "1" if party.is_person else "2"
    who = _ROLES.get(code, code)
    ident: list[str] = [id_qualifier, party.identifier] if id_qualifier else []
    body.add(
        "NM1",
        code,
        kind,
        _clean(party.name, 60, f"{who}.name"),
        _clean(party.given_name or "", 35, f"{who}.given_name", required=False),
        "",
        "",
        "",
        *ident,
    )
    if address and party.address is not None and (demographics or code not in ("82",)):
        _address(body, party.address, f"{who}.address")
    if demographics and party.date_of_birth is not None:
        body.add("DMG", "D8", party.date_of_birth.strftime("%Y%m%d"), party.sex)


def _address(body: SegmentWriter, address: Address, where: str = "billing_provider") -> None:
    body.add(
        "N3",
        _clean(address.line1, 55, f"{where}.line1"),
        _clean(address.line2 or "", 55, f"{where}.line2", required=False),
    )
    body.add(
        "N4",
        _clean(address.city, 30, f"{where}.city"),
        _clean(address.state, 2, f"{where}.state"),
        _clean(address.postal_code, 15, f"{where}.postal_code"),
    )


def _quantity(value: Decimal) -> str:
    """An X12 R value: no exponent, no trailing zeros (84.0 -> 84, 27.50 -> 27.5)."""
    if value <= 0:
        raise ValueError(f"a drug quantity must be positive, not {value}")
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _clean(value: str, limit: int, field_name: str = "name", *, required: bool = True) -> str:
    """ASCII (transliterated), upper-case, without characters that would break the X12 syntax.

    A mandatory element (a last or organisation name, an address line, city, state, ZIP)
    that is left empty by this cleaning (only separators, combining marks or spaces) is
    refused naming the field: an empty NM103/N301 is a rejected claim, not a claim.
    """
    text = "".join(ch for ch in ascii_text(value, field_name).upper() if ch not in "*~:^<>|\\")
    cleaned = " ".join(text.split())[:limit]
    if required and not cleaned:
        raise ClaimRefused(field_name, f"{value!r} has no letters or digits an 837P can carry")
    return cleaned
