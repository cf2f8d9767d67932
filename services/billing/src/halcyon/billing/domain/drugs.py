"""Buy and bill: a dose of a drug the agency bought becomes a drug-supply charge.

Pure rules, no I/O. An agency that buys esketamine (Spravato) and gives it in the
clinic bills the drug itself per milligram: HCPCS S0013 "esketamine, nasal spray,
1 mg", so a 56 mg dose is 56 units. The claim line names the exact product with its
NDC (837P 2410 LIN*N4 + CTP quantity in ME, milligrams).

Investigational drugs (MDMA, psilocybin under a research protocol) are supplied free
by the study sponsor: there is nothing to bill, and billing them would charge a payer
or a client for a drug nobody paid for. They get no charge, only a recorded reason.

What each substance bills as is the agency's configuration (``/drug-codes``); the
defaults below apply where the agency configured nothing. The price per unit comes
from the ordinary fee schedule under the HCPCS code, like any CPT code.
See docs/adr/0603-billing-buy-and-bill-drug-supply.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from halcyon.shared.calendar import site_day

SPONSOR_SUPPLIED = "investigational drug supplied by the study sponsor: not billed"


@dataclass(frozen=True)
class DrugCode:
    """How one substance is billed by this agency."""

    substance: str
    billable: bool
    hcpcs: str | None = None  # e.g. S0013
    mg_per_unit: Decimal = Decimal(1)  # the code's billing unit in milligrams
    not_billed_reason: str | None = None
    # The 11-digit NDC of each stocked product (inventory's product id -> NDC).
    ndc_by_product: Mapping[str, str] = field(default_factory=dict)


DEFAULT_DRUG_CODES: Mapping[str, DrugCode] = {
    # HCPCS Level II S0013: "Esketamine, nasal spray, 1 mg" (CMS HCPCS file, 2020-).
    "esketamine": DrugCode("esketamine", billable=True, hcpcs="S0013", mg_per_unit=Decimal(1)),
    "mdma": DrugCode("mdma", billable=False, not_billed_reason=SPONSOR_SUPPLIED),
    "psilocybin": DrugCode("psilocybin", billable=False, not_billed_reason=SPONSOR_SUPPLIED),
}


@dataclass(frozen=True)
class DrugLine:
    """The drug-supply charge a dose earns (its price comes from the fee schedule)."""

    hcpcs: str
    units: int
    quantity_mg: Decimal  # what was given: the NDC quantity (CTP04, unit ME)
    ndc: str | None  # 11 digits, no hyphens; None when billing does not know the product's


@dataclass(frozen=True)
class NotBilled:
    reason: str


def drug_charge_id(ledger_entry_id: str) -> str:
    """One charge per inventory ledger entry: a redelivered dispense finds it already there."""
    return f"chg:dose:{ledger_entry_id}"


def dosing_visit_id(appointment_id: str | None, ledger_entry_id: str) -> str:
    """The charge's encounter: the dosing appointment when inventory named it, else the
    ledger entry itself (a dose given outside a scheduled visit stands alone)."""
    return appointment_id or ledger_entry_id


def drug_code_for(substance: str, configured: Iterable[Mapping[str, Any]]) -> DrugCode | None:
    """The agency's configuration for a substance, else the default, else None."""
    name = substance.strip().lower()
    for doc in configured:
        if str(doc.get("substance", "")).lower() == name:
            return drug_code_from(doc)
    return DEFAULT_DRUG_CODES.get(name)


def drug_codes_with_defaults(configured: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """How each substance is billed: the agency's own entries, then the defaults for the
    substances it configured nothing for (marked ``default``), by substance name."""
    items = [dict(d) for d in configured]
    named = {str(d["substance"]) for d in items}
    for name, default in DEFAULT_DRUG_CODES.items():
        if name not in named:
            items.append(
                {
                    "substance": name,
                    "billable": default.billable,
                    "hcpcs": default.hcpcs,
                    "mg_per_unit": float(default.mg_per_unit),
                    "not_billed_reason": default.not_billed_reason,
                    "products": [],
                    "default": True,
                }
            )
    return sorted(items, key=lambda i: str(i["substance"]))


def drug_code_from(doc: Mapping[str, Any]) -> DrugCode:
    """A stored ``/drug-codes`` document as a DrugCode."""
    return DrugCode(
        substance=str(doc["substance"]).lower(),
        billable=bool(doc["billable"]),
        hcpcs=doc.get("hcpcs"),
        mg_per_unit=Decimal(str(doc.get("mg_per_unit") or 1)),
        not_billed_reason=doc.get("not_billed_reason"),
        ndc_by_product={
            str(p["product_id"]): ndc11(str(p["ndc"])) for p in doc.get("products") or ()
        },
    )


def dispensed_mg(quantity_ug: int | None, quantity_mg: float) -> Decimal:
    """The dose inventory dispensed, exactly: its micrograms when the event carries them
    (ADR 0502), else the float of older events read through its shortest text."""
    if quantity_ug is not None:
        return Decimal(quantity_ug) / 1000
    return Decimal(repr(quantity_mg))


def drug_line_for(
    substance: str,
    product_id: str,
    quantity_mg: Decimal,
    configured: Iterable[Mapping[str, Any]] = (),
    product_ndc: str | None = None,
) -> DrugLine | NotBilled:
    """What a dispensed dose bills: a DrugLine, or why it bills nothing.

    Units are the dose divided by the code's billing unit, rounded UP to a whole unit
    (HCPCS drug units are whole; a partial unit of drug given is still drug given, the
    CMS convention for drug units). The NDC is the one in the event when a producer
    sends it, else the agency's configured NDC for that product id.
    """
    code = drug_code_for(substance, configured)
    if code is None:
        return NotBilled(f"no drug code configured for {substance!r}: not billed")
    if not code.billable or not code.hcpcs:
        return NotBilled(code.not_billed_reason or f"{substance} is not billable at this agency")
    quantity = Decimal(str(quantity_mg))
    if quantity <= 0:
        return NotBilled(f"a dose of {quantity} mg bills nothing")
    units = math.ceil(quantity / code.mg_per_unit)
    ndc = ndc11(product_ndc) if product_ndc else code.ndc_by_product.get(product_id)
    return DrugLine(hcpcs=code.hcpcs, units=units, quantity_mg=quantity, ndc=ndc)


_NDC_10 = re.compile(r"^(\d{4,5})-(\d{3,4})-(\d{1,2})$")
_NDC_11 = re.compile(r"^\d{5}-?\d{4}-?\d{2}$")


def ndc11(ndc: str) -> str:
    """An NDC as the 11 digits (5-4-2, no hyphens) an 837P LIN*N4 requires.

    The FDA's 10-digit labels come as 4-4-2, 5-3-2 or 5-4-1; the short segment gets a
    leading zero (NCPDP/CMS 11-digit conversion): 50458-028-02 -> 50458002802.
    """
    text = ndc.strip()
    if _NDC_11.match(text) and len(text.replace("-", "")) == 11:
        return text.replace("-", "")
    found = _NDC_10.match(text)
    if found is None or len(text.replace("-", "")) != 10:
        raise ValueError(f"not an NDC: {ndc!r}")
    labeler, product, package = found.groups()
    return labeler.zfill(5) + product.zfill(4) + package.zfill(2)


def service_date_of(administered_at: datetime, timezone: str | None) -> date:
    """The date of service is the site's calendar day of the dose, not UTC's
    (an evening dose in Denver is the next day in UTC). Unknown zone: UTC."""
    return site_day(administered_at, timezone)
