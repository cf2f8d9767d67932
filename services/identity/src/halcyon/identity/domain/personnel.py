"""Sites and staff personnel files as an agency admin enters them, validated before saving."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from halcyon.identity.domain.roles import StaffRole
from halcyon.identity.domain.validation import (
    DEA_SCHEDULES,
    dea_number_valid,
    npi_valid,
    timezone_valid,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254
    ),
]
SiteRef = Annotated[str, StringConstraints(pattern=r"^(\*|[A-Za-z0-9._-]{1,64})$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Address(Strict):
    line1: Text
    line2: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Text
    region: Code  # state / territory
    postal_code: Code
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "US"


class DeaRegistrationIn(Strict):
    number: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True)]
    schedules: list[str] = Field(min_length=1)
    expires_on: date
    protocol_id: Code | None = None

    @field_validator("number")
    @classmethod
    def _dea_check_digit(cls, value: str) -> str:
        if not dea_number_valid(value):
            raise ValueError("not a valid DEA registration number (format or check digit)")
        return value

    @field_validator("schedules")
    @classmethod
    def _known_schedules(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - DEA_SCHEDULES)
        if unknown:
            raise ValueError(f"unknown controlled-substance schedules {unknown}")
        return sorted(set(value))


class SiteIn(Strict):
    name: Text
    timezone: str
    address: Address
    dea_registrations: list[DeaRegistrationIn] = []
    active: bool = True
    # "US-CO" (a US state, ISO 3166-2) or "AU" / "AU-VIC": whose rules apply at the site.
    jurisdiction: (
        Annotated[str, StringConstraints(pattern=r"^(US-[A-Z]{2}|AU(-[A-Z]{2,3})?)$")] | None
    ) = None

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        if not timezone_valid(value):
            raise ValueError("not an IANA time zone (e.g. America/Denver)")
        return value


class RoleAssignment(Strict):
    site: SiteRef  # a site id, or "*" for every site of the agency
    role: StaffRole


class LicenceIn(Strict):
    type: Code
    number: Code
    state: Code
    expires_on: date


class AuthorisedPrescriberApprovalIn(Strict):
    """TGA authorised-prescriber approval (Australia) for MDMA or psilocybin."""

    drug: Text
    ethics_approval: Code
    expires_on: date
    # The condition approved for (e.g. "PTSD", "treatment-resistant depression").
    indication: Text | None = None


CredentialFileKind = Literal[
    "licence", "dea_certificate", "board_certification", "insurance", "training", "cv",
    "authorised_prescriber_approval", "other",
]  # fmt: skip
"""What a scanned credential file is (``POST /staff/{id}/credential-files``)."""


class CredentialDocument(Strict):
    """Metadata only: the scanned file lives in document storage, referenced by ``file_ref``."""

    kind: Code  # e.g. licence, dea_certificate, insurance, cv
    title: Text
    file_ref: Text
    issued_on: date | None = None
    expires_on: date | None = None


class PersonnelFile(Strict):
    display_name: Text
    email: Email
    roles: list[RoleAssignment] = Field(min_length=1)
    licences: list[LicenceIn] = []
    dea_registrations: list[DeaRegistrationIn] = []
    authorised_prescriber_approvals: list[AuthorisedPrescriberApprovalIn] = []
    npi: str | None = None
    supervisor_id: Code | None = None
    credential_documents: list[CredentialDocument] = []
    on_call_sites: list[SiteRef] = []
    active: bool = True

    @field_validator("npi")
    @classmethod
    def _npi_check_digit(cls, value: str | None) -> str | None:
        if value is not None and not npi_valid(value):
            raise ValueError("not a valid NPI (10 digits with a Luhn check digit)")
        return value

    def sites(self) -> set[str]:
        return {r.site for r in self.roles} | set(self.on_call_sites)

    def role_names(self) -> set[str]:
        return {r.role for r in self.roles}


class NewStaffMember(PersonnelFile):
    initial_password: str = Field(min_length=1, max_length=256)
