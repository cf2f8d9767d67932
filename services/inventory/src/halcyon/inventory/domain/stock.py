"""Stock at a place: a lot at a storage location, and the quantities asked of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from halcyon.inventory.domain.quantities import (
    InexactQuantity,
    Micrograms,
    mg_text,
    mg_to_ug,
    ml_to_ug,
    units_text,
)
from halcyon.shared.errors import RuleViolation

Document = dict[str, Any]


@dataclass(frozen=True)
class StockPlace:
    """A lot at a storage location, with everything a ledger entry records about it."""

    lot: Document
    product: Document
    location: Document
    registration: Document

    @property
    def site_id(self) -> str:
        return str(self.registration["site_id"])

    @property
    def schedule(self) -> str:
        return str(self.product["schedule"])

    def units(self, quantity_ug: int) -> str:
        return units_text(quantity_ug, int(self.product["strength_ug"]))

    def describe(self) -> dict[str, Any]:
        """The 21 CFR 1304.22(a) product facts every entry carries."""
        return {
            "site_id": self.site_id,
            "dea_number": self.registration["dea_number"],
            "lot_id": self.lot["_id"],
            "lot_number": self.lot["lot_number"],
            "lot_expires_on": self.lot["expires_on"],
            "location_id": self.location["_id"],
            "location_name": self.location["name"],
            "product_id": self.product["_id"],
            "substance": self.product["substance"],
            "schedule": self.product["schedule"],
            "form": self.product["form"],
            "strength_ug": self.product["strength_ug"],
            "units_per_container": self.product["units_per_container"],
            "ndc": self.product.get("ndc"),
        }


def dose_ug(
    product: Mapping[str, Any], quantity_mg: Decimal | None, quantity_ml: Decimal | None
) -> int:
    """The quantity asked for, in micrograms: mg as given, or mL through the product's
    concentration, exactly (a 422 otherwise)."""
    try:
        if quantity_mg is not None:
            return mg_to_ug(quantity_mg)
        concentration: Micrograms | None = product.get("concentration_ug_per_ml")
        if not concentration or quantity_ml is None:
            raise RuleViolation(
                f"{product.get('substance')} {product.get('form')} has no concentration on"
                " file: give the quantity in mg",
                field="quantity_ml",
            )
        return ml_to_ug(quantity_ml, mg_text(concentration))
    except InexactQuantity as error:
        raise RuleViolation(str(error), field="quantity_ml") from None


def require_staff_at_site(
    member: Document | None,
    staff_id: str,
    site_id: str,
    as_what: str,
    roles: set[str] | None = None,
) -> Document:
    """Someone named in a record (administered by, witness…) must be active staff at the
    site, and hold one of ``roles`` there when given (e.g. only nurses and prescribers
    administer)."""
    if member is None or not member.get("active", True):
        raise RuleViolation(
            f"{as_what} {staff_id} is not an active staff member known to inventory",
            field=as_what,
        )
    here = {r.get("role") for r in member.get("roles", []) if r.get("site") in {site_id, "*"}}
    if not here:
        raise RuleViolation(f"{as_what} {staff_id} has no role at site {site_id}", field=as_what)
    if roles is not None and not here & roles:
        raise RuleViolation(
            f"{as_what} {staff_id} is not a {' or '.join(sorted(roles))} at site {site_id}",
            field=as_what,
        )
    return member
