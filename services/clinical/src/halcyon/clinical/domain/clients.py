"""Client registration rules: demographics, contacts, identifiers, care team."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from halcyon.shared.contracts.clinical import ClientAddress, ClientDetailsChanged, ClientRegistered
from halcyon.shared.errors import RuleViolation
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{7,20}$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line1: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    line2: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    state: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "US"


class Contact(BaseModel):
    """A way to reach the client: the channel, the value and whether it is preferred."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["phone", "sms", "email"]
    value: Annotated[str, StringConstraints(min_length=3, max_length=254)]
    use: Literal["home", "work", "mobile"] = "mobile"
    preferred: bool = False


class EmergencyContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    relationship: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    phone: Phone


class NationalIdentifier(BaseModel):
    """An SSN or another country's national id; stored encrypted, shown masked."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ssn", "national_id"]
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=40)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "US"

    def normalised(self) -> str:
        if self.kind == "ssn":
            return normalise_ssn(self.value)
        return self.value


def normalise_ssn(value: str) -> str:
    """SSA rules: 9 digits, area not 000/666/9xx, group not 00, serial not 0000."""
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"[0-9]{9}", digits):
        raise ValueError("an SSN has 9 digits (123-45-6789)")
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in {"000", "666"} or area.startswith("9") or group == "00" or serial == "0000":
        raise ValueError("that number is not an SSN the SSA issues")
    return f"{area}-{group}-{serial}"


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
    sex_assigned_at_birth: Literal["female", "male", "intersex", "unknown"] | None = None
    gender_identity: Annotated[str, StringConstraints(max_length=60)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Address | None = None
    contacts: list[Contact] = Field(default_factory=list, max_length=10)
    emergency_contact: EmergencyContact | None = None
    national_identifier: NationalIdentifier | None = None

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth_date(cls, value: date) -> date:
        today = datetime.now(UTC).date()
        if value > today:
            raise ValueError("date of birth cannot be in the future")
        if value < EARLIEST_BIRTH_DATE:
            raise ValueError("date of birth is before 1900")
        return value

    @field_validator("national_identifier")
    @classmethod
    def _valid_identifier(cls, value: NationalIdentifier | None) -> NationalIdentifier | None:
        if value is not None:
            value.normalised()  # raises ValueError → 422 before anything is written
        return value


REQUIRED_DETAILS = ("given_name", "family_name", "date_of_birth", "home_site_id")


class ClientUpdate(BaseModel):
    """A change of demographics or contact details: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: date | None = None
    home_site_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    preferred_language: (
        Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None
    ) = None
    pronouns: Annotated[str, StringConstraints(max_length=40)] | None = None
    sex_assigned_at_birth: Literal["female", "male", "intersex", "unknown"] | None = None
    gender_identity: Annotated[str, StringConstraints(max_length=60)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Address | None = None
    contacts: list[Contact] | None = Field(default=None, max_length=10)
    emergency_contact: EmergencyContact | None = None

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth_date(cls, value: date | None) -> date | None:
        if value is not None:
            ClientRegistration._plausible_birth_date(value)
        return value

    @model_validator(mode="after")
    def _sensible(self) -> ClientUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        cleared = [
            k for k in REQUIRED_DETAILS if k in self.model_fields_set and getattr(self, k) is None
        ]
        if cleared:
            raise ValueError(f"{', '.join(cleared)} cannot be removed")
        return self

    def changes(self) -> dict[str, object]:
        """Only the fields the caller sent (``null`` clears an optional one)."""
        return self.model_dump(mode="json", include=self.model_fields_set)


def format_mrn(sequence: int) -> str:
    """Medical record numbers are per agency: ``MRN-000123``."""
    if sequence < 1:
        raise ValueError("MRN sequence starts at 1")
    return f"MRN-{sequence:06d}"


def fold(text: str) -> str:
    """Lower-case, accents removed, letters only: ``Zoë O'Neil`` → ``zoeoneil``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z]", "", plain.lower())


def name_key(given: str, family: str) -> str:
    """Case- and accent-insensitive key for duplicate warnings and search."""
    return fold(f"{family}{given}")


def identifier_fingerprint(secret: str, tenant_id: str, value: str) -> str:
    """Keyed hash of a national identifier: finds duplicates without decrypting anything.

    HMAC with the service secret and the tenant, so equal SSNs in two agencies do not
    share a fingerprint and a leaked table cannot be brute-forced without the secret.
    """
    message = f"{tenant_id}:{value}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def duplicate_warning(count: int) -> str | None:
    if count == 0:
        return None
    return (
        f"{count} client(s) with the same name and date of birth, or the same national "
        "identifier, already exist in this agency; check possible_duplicate_of before "
        "creating another chart"
    )


class IdentifierOut(BaseModel):
    system: Literal["mrn", "ssn", "national_id"]
    value: str  # masked for ssn/national_id
    country: str | None = None


class CareTeamMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    role: Literal[
        "primary_therapist",
        "second_therapist",
        "prescriber",
        "nurse",
        "case_manager",
        "supervisor",
    ]


class CareTeamUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: list[CareTeamMember] = Field(max_length=20)


class CareTeamMemberOut(CareTeamMember):
    display_name: str | None = None
    licences: list[str] = Field(default_factory=list)  # e.g. ["LCSW CO 12345"]
    active: bool | None = None


class Client(BaseModel):
    id: str
    mrn: str
    given_name: str
    family_name: str
    date_of_birth: date
    home_site_id: str
    preferred_language: str | None = None
    pronouns: str | None = None
    sex_assigned_at_birth: str | None = None
    gender_identity: str | None = None
    email: str | None = None
    phone: str | None = None
    address: Address | None = None
    contacts: list[Contact] = Field(default_factory=list)
    emergency_contact: EmergencyContact | None = None
    identifiers: list[IdentifierOut] = Field(default_factory=list)
    care_team: list[CareTeamMemberOut] = Field(default_factory=list)
    registered_at: datetime
    registered_by: str
    possible_duplicate_of: list[str] = Field(default_factory=list)
    duplicate_warning: str | None = None


def client_registered(
    client_id: str, body: ClientRegistration, timezone: str | None
) -> ClientRegistered:
    """What other contexts learn of a new client (contact details for reminders)."""
    return ClientRegistered(
        client_id=client_id,
        home_site_id=body.home_site_id,
        given_name=body.given_name,
        family_name=body.family_name,
        date_of_birth=body.date_of_birth,
        preferred_language=body.preferred_language,
        email=body.email,
        phone=body.phone,
        address=ClientAddress(**body.address.model_dump()) if body.address else None,
        # The home site's zone (from identity), for reminders in the client's local time.
        timezone=timezone,
    )


def details_changed(
    client_id: str, merged: Mapping[str, Any], changed_at: datetime
) -> ClientDetailsChanged:
    """The client's details after a change, as other contexts keep them."""
    return ClientDetailsChanged(
        client_id=client_id,
        home_site_id=merged["home_site_id"],
        given_name=merged["given_name"],
        family_name=merged["family_name"],
        date_of_birth=merged["date_of_birth"],
        preferred_language=merged.get("preferred_language"),
        pronouns=merged.get("pronouns"),
        email=merged.get("email"),
        phone=merged.get("phone"),
        address=ClientAddress(**merged["address"]) if merged.get("address") else None,
        changed_at=changed_at,
    )


def ensure_distinct_members(members: list[dict[str, Any]]) -> None:
    if len({(m["staff_id"], m["role"]) for m in members}) != len(members):
        raise RuleViolation("a staff member is listed twice in the same role")
