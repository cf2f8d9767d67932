"""Exact quantities of controlled substances (ADR 0502).

The ledger is a legal record (21 CFR 1304.21(a): complete and accurate), so every
quantity is stored and added up as an integer number of micrograms. People speak in
milligrams: the API takes milligrams as a decimal with at most three places (a string or
a JSON number whose shortest form has at most three places) and shows them back as exact
decimal strings ("0.1", "120"). A liquid measured in millilitres becomes milligrams
through the product's concentration, and is refused unless that is exact to the
microgram. Floats never take part in the arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

Micrograms = int
MICROGRAMS_PER_MG = 1000
MG_PLACES = 3
ML_PLACES = 3
# No stock or dose comes near 10^12 mg; anything larger is refused before the decimal
# arithmetic (whose 28-digit context would otherwise raise InvalidOperation: a 500).
MAX_DIGITS_BEFORE_POINT = 12
_QUANTUM = Decimal(1).scaleb(-MG_PLACES)


class InexactQuantity(ValueError):
    """A quantity that cannot be recorded exactly to the microgram."""


def _decimal(value: Any, what: str, places: int) -> Decimal:
    if isinstance(value, bool):
        raise InexactQuantity(f"{what} must be a number, not {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InexactQuantity(f"{what} must be a finite number")
        # The shortest text that round-trips is what the sender wrote (0.1 → "0.1");
        # a float carrying arithmetic noise (0.30000000000000004) shows more places.
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise InexactQuantity(f"{what} {value!r} is not a decimal number") from None
    else:
        raise InexactQuantity(f"{what} must be a decimal number")
    if not number.is_finite():
        raise InexactQuantity(f"{what} must be a finite number")
    if number and number.adjusted() >= MAX_DIGITS_BEFORE_POINT:
        raise InexactQuantity(f"{what} {value} is too large")
    quantum = Decimal(1).scaleb(-places)
    if number != number.quantize(quantum, rounding="ROUND_DOWN"):
        raise InexactQuantity(
            f"{what} {value} has more than {places} decimal places; the ledger records"
            " quantities exactly to the microgram"
        )
    return number.quantize(quantum)


def parse_mg(value: Any) -> Decimal:
    """Milligrams with at most three decimal places, exactly (refused otherwise)."""
    return _decimal(value, "a quantity in mg", MG_PLACES)


def parse_ml(value: Any) -> Decimal:
    return _decimal(value, "a volume in mL", ML_PLACES)


def mg_to_ug(mg: Decimal | int | float | str) -> Micrograms:
    exact = parse_mg(mg)
    return int(exact * MICROGRAMS_PER_MG)


def ml_to_ug(ml: Decimal | str, mg_per_ml: Decimal | str) -> Micrograms:
    """A volume of a liquid product as micrograms of substance: exact or refused."""
    milligrams = parse_ml(ml) * parse_mg(mg_per_ml)
    if milligrams != milligrams.quantize(_QUANTUM, rounding="ROUND_DOWN"):
        raise InexactQuantity(
            f"{ml} mL at {mg_per_ml} mg/mL is {milligrams.normalize()} mg, which is not a whole"
            " number of micrograms; record the dose in mg instead"
        )
    return int(milligrams * MICROGRAMS_PER_MG)


def stored_ug(record: Mapping[str, Any], name: str) -> Micrograms:
    """``record[name + "_ug"]``, or, for an entry written before ADR 0502 and left
    unmigrated (the migration leaves a chain that does not verify untouched), its float
    ``name + "_mg"`` read as the nearest microgram, as the migration would."""
    exact = record.get(f"{name}_ug")
    if exact is not None:
        return int(exact)
    legacy = record.get(f"{name}_mg")
    if legacy is None or isinstance(legacy, bool):
        return 0
    mg = Decimal(repr(legacy)) if isinstance(legacy, float) else Decimal(str(legacy))
    if not mg.is_finite():
        return 0
    return int((mg * MICROGRAMS_PER_MG).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def mg_text(ug: Micrograms) -> str:
    """The exact decimal milligrams of ``ug`` (1500 → "1.5", 120000 → "120", 0 → "0")."""
    sign = "-" if ug < 0 else ""
    whole, fraction = divmod(abs(int(ug)), MICROGRAMS_PER_MG)
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}." + f"{fraction:03d}".rstrip("0")


def mg_float(ug: Micrograms) -> float:
    """For event fields that older consumers read as a JSON number (never used to add up)."""
    return float(Decimal(ug) / MICROGRAMS_PER_MG)


def units_text(quantity_ug: Micrograms, strength_ug: Micrograms) -> str:
    """Dosage units (capsules, tablets, mL…) in a quantity: exact when whole, otherwise to
    three places (the quantity in micrograms stays the record)."""
    if strength_ug <= 0:
        return "0"
    whole, rest = divmod(quantity_ug, strength_ug)
    if not rest:
        return str(whole)
    units = (Decimal(quantity_ug) / Decimal(strength_ug)).quantize(_QUANTUM)
    return format(units.normalize(), "f")


def _validated_mg(value: Any) -> Decimal:
    return parse_mg(value)


def _validated_ml(value: Any) -> Decimal:
    return parse_ml(value)


_MG_SCHEMA = {
    "anyOf": [
        {"type": "number"},
        {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,3})?$"},
    ],
    "description": "milligrams, at most three decimal places (exact to the microgram)",
}
_ML_SCHEMA = {
    "anyOf": [
        {"type": "number"},
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,3})?$"},
    ],
    "description": "millilitres, at most three decimal places",
}

# Request fields: a decimal number of mg (string or number), exact or a 422.
ExactMg = Annotated[Decimal, BeforeValidator(_validated_mg), WithJsonSchema(_MG_SCHEMA)]
ExactMl = Annotated[Decimal, BeforeValidator(_validated_ml), WithJsonSchema(_ML_SCHEMA)]
