"""What people submit to the inventory: request bodies, validated before anything is written."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from halcyon.inventory.domain.quantities import ExactMg, ExactMl
from halcyon.inventory.domain.substances import normalise_schedule
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
DeaNumber = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[0-9]{7}$")]
Ndc = Annotated[str, StringConstraints(pattern=r"^[0-9]{4,5}-[0-9]{3,4}-[0-9]{1,2}$")]
# Milligrams, exact to the microgram (ADR 0502): "0.1" or 0.1, never 0.30000000000000004.
Quantity = Annotated[ExactMg, Field(gt=0, le=1_000_000)]
Counted = Annotated[ExactMg, Field(ge=0, le=1_000_000)]
Volume = Annotated[ExactMl, Field(gt=0, le=100_000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegistrationIn(Body):
    site_id: Id
    dea_number: DeaNumber
    registrant_name: Text
    kind: Literal["practitioner", "researcher"] = "practitioner"
    schedules: list[str] = Field(min_length=1, max_length=5)
    expires_on: date
    # Schedule I researcher registrations name the protocol they were approved for.
    protocol_id: Id | None = None

    @field_validator("schedules")
    @classmethod
    def _schedules(cls, value: list[str]) -> list[str]:
        return sorted(
            {normalise_schedule(s) for s in value}, key=["I", "II", "III", "IV", "V"].index
        )


class ProductIn(Body):
    substance: Text
    schedule: str
    form: Text  # e.g. capsule, tablet, nasal spray
    strength_mg: Quantity
    units_per_container: Annotated[int, Field(ge=1, le=100_000)]
    ndc: Annotated[str, StringConstraints(pattern=r"^[0-9]{4,5}-[0-9]{3,4}-[0-9]{1,2}$")] | None = (
        None
    )
    low_stock_threshold_mg: Annotated[ExactMg, Field(ge=0, le=1_000_000)] = Decimal(0)
    # Liquids: mg of substance per mL, so a dose measured in mL is recorded in exact mg.
    concentration_mg_per_ml: Annotated[ExactMg, Field(gt=0, le=1_000_000)] | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return normalise_schedule(value)


class LocationIn(Body):
    registration_id: Id
    name: Text
    # 21 CFR 1301.75(b): Schedule I-II only in a securely locked, substantially
    # constructed safe or cabinet (or vault); other places may hold III-V.
    kind: Literal["safe", "cabinet", "vault", "other"]
    locked: bool = True


class LockStateIn(Body):
    """A storage location found unlocked (broken lock, missing key) or secured again."""

    locked: bool
    note: Text


class LotIn(Body):
    product_id: Id
    lot_number: Text
    expires_on: date
    supplier_name: Text
    supplier_dea_number: DeaNumber


class InventoryItemIn(Body):
    lot_id: Id
    location_id: Id
    counted_mg: Counted
    estimated: bool = False


class InventoryIn(Body):
    """21 CFR 1304.11: initial inventory of a new registration, then at least biennially."""

    kind: Literal["initial", "biennial"]
    taken_at: Literal["opening", "closing"]  # 1304.11(a): opening or close of business
    items: list[InventoryItemIn] = Field(default_factory=list, max_length=500)


class ReceiptIn(Body):
    lot_id: Id
    location_id: Id
    quantity_mg: Quantity
    received_on: date
    order_form_number: Annotated[str, StringConstraints(max_length=64)] | None = None


class MeasuredDose(Body):
    """A dose in mg, or in mL of a liquid product with a concentration (exactly one)."""

    quantity_mg: Quantity | None = None
    quantity_ml: Volume | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> MeasuredDose:
        if (self.quantity_mg is None) == (self.quantity_ml is None):
            raise ValueError("give the quantity either in mg (quantity_mg) or in mL (quantity_ml)")
        return self


class DispenseIn(MeasuredDose):
    appointment_id: Id
    lot_id: Id
    location_id: Id
    supplemental: bool = False
    administered_by: Id
    witness_id: Id
    prescriber_id: Id
    administered_at: datetime | None = None

    @field_validator("administered_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("administered_at must carry a time zone")
        return value


class WasteIn(MeasuredDose):
    lot_id: Id
    location_id: Id
    method: Text
    reason: Text
    witness_ids: list[Id] = Field(max_length=4)
    dispense_entry_id: Id | None = None


class DestructionIn(Body):
    """DEA Form 41 data (21 CFR 1317.95): what, how much, how, where, witnessed by whom."""

    lot_id: Id
    location_id: Id
    quantity_mg: Quantity
    method: Text
    reason: Text
    destroyed_on: date
    location_of_destruction: Text
    witness_ids: list[Id] = Field(max_length=4)
    form_41_reference: Text


class TransferIn(Body):
    lot_id: Id
    from_location_id: Id
    to_location_id: Id
    quantity_mg: Quantity
    order_form_number: Annotated[str, StringConstraints(max_length=64)] | None = None


class ReturnIn(Body):
    lot_id: Id
    location_id: Id
    quantity_mg: Quantity
    returned_to: Text
    returned_to_dea_number: DeaNumber
    order_form_number: Annotated[str, StringConstraints(max_length=64)] | None = None


class AdjustmentIn(Body):
    lot_id: Id
    location_id: Id
    delta_mg: Annotated[ExactMg, Field(ge=-1_000_000, le=1_000_000)]
    reason: Text
    discrepancy_id: Id | None = None

    @field_validator("delta_mg")
    @classmethod
    def _non_zero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("an adjustment changes the balance")
        return value


class CountIn(Body):
    lot_id: Id
    location_id: Id
    kind: Literal["opening", "closing", "spot"]
    counted_mg: Counted
    estimated: bool = False
    suspected_theft_or_loss: bool = False
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class TheftLossIn(Body):
    discovered_on: date | None = None
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class DeadlineDoneIn(Body):
    reference: Text  # e.g. the Form 106 confirmation number


class CloseDiscrepancyIn(Body):
    resolution: Text
