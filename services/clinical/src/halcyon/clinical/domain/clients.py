"""Client registration rules."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


class ClientRegistration(BaseModel):
    """What the front desk enters to register a client."""

    model_config = ConfigDict(extra="forbid")

    given_name: Name
    family_name: Name
    date_of_birth: date
    home_site_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    preferred_language: (
        Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None
    ) = None
    pronouns: Annotated[str, StringConstraints(max_length=40)] | None = None
    email: (
        Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
        | None
    ) = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{7,20}$")] | None = None

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth_date(cls, value: date) -> date:
        today = datetime.now(UTC).date()
        if value > today:
            raise ValueError("date of birth cannot be in the future")
        if value < EARLIEST_BIRTH_DATE:
            raise ValueError("date of birth is before 1900")
        return value


def format_mrn(sequence: int) -> str:
    """Medical record numbers are per agency: ``MRN-000123``."""
    if sequence < 1:
        raise ValueError("MRN sequence starts at 1")
    return f"MRN-{sequence:06d}"


def name_key(given: str, family: str) -> str:
    """Case- and accent-insensitive enough key for duplicate warnings and search."""
    return re.sub(r"[^a-z]", "", f"{family}{given}".lower())


class Client(BaseModel):
    id: str
    mrn: str
    given_name: str
    family_name: str
    date_of_birth: date
    home_site_id: str
    preferred_language: str | None = None
    pronouns: str | None = None
    email: str | None = None
    phone: str | None = None
    registered_at: datetime
    registered_by: str
    possible_duplicate_of: list[str] = Field(default_factory=list)
