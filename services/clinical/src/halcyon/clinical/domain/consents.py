"""Consents, and the 42 CFR Part 2 rules for disclosing substance-use-disorder records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from halcyon.clinical.domain.common import AwareDatetime, Id, ShortText
from halcyon.shared.contracts.clinical import ConsentChanged
from halcyon.shared.errors import DomainError, RuleViolation
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ConsentKind = Literal["psychedelic_informed", "telehealth", "release_of_information", "part2"]
# 42 CFR 2.31(a)(4): the purpose; TPO is the 2024 rule's single-consent option.
Part2Purpose = Literal["treatment", "payment", "health_care_operations", "specific"]

# 42 CFR 2.32(a)(1) as amended by the 2024 final rule (89 FR 12472): the notice that
# accompanies every disclosure made with the patient's written consent.
PART2_REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by Federal confidentiality "
    "rules (42 CFR part 2). These rules prohibit you from using or disclosing this record, "
    "or testimony that describes the information contained in this record, in any civil, "
    "criminal, administrative, or legislative proceedings by any Federal, State, or local "
    "authority, against the patient, unless authorized by the consent of the patient, except "
    "as provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR "
    "2.64 or 2.65. In addition, the Federal rules prohibit you from making any other use or "
    "disclosure of this record unless at least one of the following applies: (i) Further use "
    "or disclosure is expressly permitted by the written consent of the individual whose "
    "information is being disclosed in this record or as otherwise permitted by 42 CFR part "
    "2. (ii) You are a covered entity or business associate and have received the record for "
    "treatment, payment, or health care operations, or (iii) You have received the record "
    "from a covered entity or business associate as permitted by 45 CFR part 164, subparts A "
    "and E. A general authorization for the release of medical or other information is NOT "
    "sufficient to meet the required elements of written consent to further use or "
    "redisclose the record (see 42 CFR 2.31)."
)
# 42 CFR 2.32(a)(2): the abbreviated form, for disclosures where space is short.
PART2_ABBREVIATED_NOTICE = (
    "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
)


class Part2ConsentRefused(DomainError):
    status, slug, title = 403, "part2-consent-required", "Disclosure needs a valid Part 2 consent"


class AuthorisationRequired(DomainError):
    status, slug, title = (
        403,
        "authorisation-required",
        "Disclosure needs the client's authorisation",
    )


TPO = frozenset({"treatment", "payment", "health_care_operations"})


class ConsentForm(BaseModel):
    """A signed consent. Part 2 consents must hold every element 42 CFR 2.31(a) lists."""

    model_config = ConfigDict(extra="forbid")

    kind: ConsentKind
    protocol_id: Id | None = None  # psychedelic_informed: which protocol the client consented to
    recipient: ShortText | None = None  # 2.31(a)(3): to whom
    purpose: Part2Purpose | None = None  # 2.31(a)(4)
    purpose_description: Annotated[str, StringConstraints(max_length=500)] | None = None
    information_description: Annotated[str, StringConstraints(max_length=500)] | None = None
    effective_at: AwareDatetime
    expires_at: AwareDatetime | None = None  # 2.31(a)(6): a date …
    expiry_event: Annotated[str, StringConstraints(max_length=200)] | None = None  # … or event
    signed_by_name: ShortText  # 2.31(a)(8): signature of the patient (or representative)
    signed_at: AwareDatetime

    @model_validator(mode="after")
    def _elements(self) -> ConsentForm:
        if self.kind == "psychedelic_informed" and not self.protocol_id:
            raise ValueError("an informed consent for psychedelic therapy names its protocol")
        if self.kind in {"part2", "release_of_information"} and not self.recipient:
            raise ValueError("a disclosure consent names its recipient")
        if self.kind == "part2":
            if self.purpose is None:
                raise ValueError("a Part 2 consent states its purpose (42 CFR 2.31(a)(4))")
            if self.purpose == "specific" and not self.purpose_description:
                raise ValueError("a specific purpose must be described")
            if not self.information_description:
                raise ValueError(
                    "a Part 2 consent describes the information to disclose (42 CFR 2.31(a)(2))"
                )
            if self.expires_at is None and not self.expiry_event:
                raise ValueError("a Part 2 consent has an expiry date or event (2.31(a)(6))")
        if self.expires_at is not None and self.expires_at <= self.effective_at:
            raise ValueError("expires_at is not after effective_at")
        return self


def consent_status(consent: dict[str, Any], now: datetime) -> str:
    """active | revoked | expired | pending (not yet effective)."""
    if consent.get("revoked_at"):
        return "revoked"
    expires = consent.get("expires_at")
    if expires is not None and expires <= now:
        return "expired"
    if consent["effective_at"] > now:
        return "pending"
    return "active"


RecordType = Literal["notes", "diagnoses"]
DEFAULT_RECORD_TYPES: tuple[RecordType, ...] = ("notes", "diagnoses")


class DisclosureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient: ShortText
    purpose: Part2Purpose
    purpose_description: Annotated[str, StringConstraints(max_length=500)] | None = None
    consent_id: Id | None = None
    record_types: list[RecordType] = Field(
        default_factory=lambda: list(DEFAULT_RECORD_TYPES), min_length=1
    )


def _same_recipient(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def authorise_disclosure(
    *,
    part2_records: int,
    request: DisclosureRequest,
    consent: dict[str, Any] | None,
    now: datetime,
) -> str | None:
    """Decide a disclosure; returns the notice to attach (None when no Part 2 record goes out).

    42 CFR 2.13/2.31: a Part 2 record leaves the program only under a written consent that
    is in force (not revoked, 2.31(a)(5); not expired, 2.31(a)(6)), names this recipient
    and covers this purpose. 2.32: every such disclosure carries the redisclosure notice.
    """
    if part2_records == 0:
        # HIPAA 45 CFR 164.506: treatment, payment and operations need no authorisation;
        # any other purpose needs a valid one naming the recipient (164.508).
        if request.purpose in TPO:
            return None
        if (
            consent is None
            or consent.get("kind") not in {"release_of_information", "part2"}
            or consent_status(consent, now) != "active"
            or not _same_recipient(consent.get("recipient") or "", request.recipient)
        ):
            raise AuthorisationRequired(
                "a disclosure for a purpose other than treatment, payment or operations "
                "needs an active release of information naming this recipient"
            )
        return None
    if consent is None:
        raise Part2ConsentRefused(
            f"{part2_records} record(s) are protected by 42 CFR part 2 and no consent was given"
        )
    if consent.get("kind") != "part2":
        raise Part2ConsentRefused(
            "a general release of information is not a Part 2 consent (42 CFR 2.31)"
        )
    status = consent_status(consent, now)
    if status != "active":
        raise Part2ConsentRefused(f"the Part 2 consent is {status}", consent_status=status)
    if not _same_recipient(consent["recipient"], request.recipient):
        raise Part2ConsentRefused("the Part 2 consent names a different recipient")
    if consent["purpose"] != request.purpose:
        raise Part2ConsentRefused(
            f"the Part 2 consent covers {consent['purpose']}, not {request.purpose}"
        )
    return PART2_REDISCLOSURE_NOTICE


def ensure_revocable(consent: dict[str, Any], now: datetime) -> None:
    status = consent_status(consent, now)
    if status == "revoked":
        raise RuleViolation("this consent is already revoked")


def consent_changed(doc: Mapping[str, Any], status: str) -> ConsentChanged:
    """The event telling other services a consent's status changed (signed, revoked, expired)."""
    return ConsentChanged(
        consent_id=doc["_id"],
        client_id=doc["client_id"],
        kind=doc["kind"],
        protocol_id=doc.get("protocol_id"),
        status=status,
        # When this status took effect: signed, revoked, or reached its expiry.
        effective_at=(
            doc["expires_at"]
            if status == "expired"
            else doc.get("revoked_at") or doc["effective_at"]
        ),
        expires_at=doc.get("expires_at"),
        # What billing needs to decide whether a Part 2 claim may go to a payer.
        recipient=doc.get("recipient"),
        purpose=doc.get("purpose"),
    )


class DisclosedRecord(BaseModel):
    type: str
    id: str
    part2: bool
    content: dict[str, Any]


class Disclosure(BaseModel):
    id: str
    client_id: str
    recipient: str
    purpose: str
    consent_id: str | None
    disclosed_at: datetime
    disclosed_by: str
    records: list[DisclosedRecord]
    # 42 CFR 2.32: present whenever a Part 2 record is disclosed.
    redisclosure_notice: str | None = None
    abbreviated_notice: str | None = None
    # 42 CFR 2.32(b) (2024 rule): a copy of the consent, or a clear explanation of its scope.
    consent_copy: dict[str, Any] | None = None


def disclosed_note(doc: Mapping[str, Any]) -> DisclosedRecord:
    keep = ("kind", "started_at", "ended_at", "diagnoses", "content", "dosing", "status")
    content = {k: doc.get(k) for k in keep}
    return DisclosedRecord(
        type="note", id=doc["_id"], part2=bool(doc.get("part2")), content=content
    )


def disclosed_episode(doc: Mapping[str, Any]) -> DisclosedRecord:
    content = {"program": doc["program"], "diagnoses": doc["diagnoses"]}
    return DisclosedRecord(
        type="episode", id=doc["_id"], part2=bool(doc.get("part2")), content=content
    )


def consent_copy(consent: Mapping[str, Any]) -> dict[str, Any]:
    keep = (
        "kind",
        "recipient",
        "purpose",
        "purpose_description",
        "information_description",
        "effective_at",
        "expires_at",
        "expiry_event",
        "signed_by_name",
        "signed_at",
    )
    return {"consent_id": consent["_id"], **{k: consent.get(k) for k in keep}}


# A few minutes of clock skew between the signing tablet and us are tolerated.
SIGNING_SKEW = timedelta(minutes=5)


def ensure_recordable(form: ConsentForm, now: datetime) -> None:
    """A consent is recorded once signed and in effect, never dated ahead of us."""
    latest = now + SIGNING_SKEW
    if form.signed_at > latest:
        raise RuleViolation("the consent's signature date is in the future")
    if form.effective_at > latest:
        # Consumers (scheduling's gating) act on the status announced now; a consent
        # that only starts later would need a second announcement we do not make.
        raise RuleViolation("record the consent when it takes effect, not before")
