"""Payers, coverages, fee schedules, prior authorizations and per-site billing profiles."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import PlainTextResponse
from halcyon.billing.api.common import BILLERS, open_client, public
from halcyon.billing.api.deps import (
    Authorizations,
    Clients,
    Coverages,
    FeeSchedules,
    Payers,
    PriorAuths,
    Profiles,
    Questions,
)
from halcyon.billing.domain.payers import SELF_PAY
from halcyon.billing.usecases.authorizations import AuthorizationTerms
from halcyon.billing.usecases.coverages import record_coverage
from halcyon.shared.access import Access
from halcyon.shared.errors import Conflict, NotFound, RuleViolation
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import DuplicateRecord
from halcyon.shared.service import Audit
from pydantic import BaseModel, ConfigDict, Field, model_validator
from uuid6 import uuid7

router = APIRouter(tags=["setup"])
Code = Annotated[str, Field(pattern=r"^[A-Z0-9]{5}$", description="CPT/HCPCS code")]
Modifier = Annotated[str, Field(pattern=r"^[A-Z0-9]{2}$")]
Name = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^*~:^<>|\\]+$")]
X12Id = Annotated[str, Field(min_length=2, max_length=80, pattern=r"^[A-Za-z0-9 .\-]+$")]
Npi = Annotated[str, Field(pattern=r"^[0-9]{10}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Dated(Body):
    starts_on: date
    ends_on: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Dated:
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class PostalAddress(Body):
    line1: Name
    line2: Name | None = None
    city: Name
    state: str = Field(pattern=r"^[A-Z]{2}$")
    postal_code: str = Field(pattern=r"^[0-9]{5}([0-9]{4})?$")


class PayerIn(Body):
    name: Name
    payer_id: X12Id  # the payer's electronic id (NM1*PR*...*PI)
    # SBR09 claim filing indicator: CI commercial, MB Medicare B, MC Medicaid, BL BCBS, HM HMO...
    claim_filing_indicator: str = Field(
        pattern=r"^(11|12|13|14|15|16|17|AM|BL|CH|CI|DS|FI|HM|LM|MA|MB|MC|OF|TV|VA|WC|ZZ)$"
    )
    # Audio-only telehealth: CPT modifier 93, or FQ where the payer follows CMS's usage.
    audio_only_modifier: Literal["93", "FQ"] = "93"


@router.post("/payers", status_code=status.HTTP_201_CREATED, summary="Add a payer")
async def create_payer(body: PayerIn, caller: CurrentCaller, payers: Payers) -> dict[str, Any]:
    caller.require(BILLERS)
    doc = {"_id": str(uuid7()), **body.model_dump(), "created_at": datetime.now(UTC)}
    try:
        return public(await payers.insert(caller.tenant_id, doc))
    except DuplicateRecord:
        raise Conflict(f"a payer with id {body.payer_id} exists") from None


@router.get("/payers", response_model=PageOut[dict[str, Any]], summary="List payers")
async def list_payers(
    caller: CurrentCaller, payers: Payers, page: Annotated[PageParams, Depends(page_params)]
) -> PageOut[dict[str, Any]]:
    caller.require(BILLERS)
    found = await payers.page(caller.tenant_id, {}, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[public(d) for d in found.items], next_cursor=found.next_cursor)


class PersonIn(Body):
    given_name: Name
    family_name: Name
    date_of_birth: date
    sex: Literal["F", "M", "U"] = "U"
    address: PostalAddress


class CoverageIn(Dated):
    payer: str = Field(min_length=1, max_length=80, description="id of a payer from /payers")
    rank: Literal["primary", "secondary", "tertiary"]
    member_id: X12Id
    group_number: X12Id | None = None
    relationship: Literal["self", "spouse", "child", "other"] = "self"
    subscriber: PersonIn
    # The patient's own sex and address when they are not the subscriber (2010CA).
    patient_sex: Literal["F", "M", "U"] = "U"


@router.post(
    "/clients/{client_id}/coverages", status_code=status.HTTP_201_CREATED, summary="Add a coverage"
)
async def add_coverage(
    client_id: str,
    body: CoverageIn,
    caller: CurrentCaller,
    access: Access,
    clients: Clients,
    coverages: Coverages,
    payers: Payers,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    await open_client(access, clients, client_id, BILLERS, action="create", resource="coverage")
    terms = body.model_dump(mode="json")
    saved = await record_coverage(coverages, payers, caller, client_id, terms)
    await audit.record(
        caller,
        action="create",
        resource="coverage",
        resource_id=saved["_id"],
        client_id=client_id,
        request=request,
    )
    return public(saved)


@router.get(
    "/clients/{client_id}/coverages",
    response_model=PageOut[dict[str, Any]],
    summary="A client's coverages",
)
async def list_coverages(
    client_id: str,
    caller: CurrentCaller,
    access: Access,
    clients: Clients,
    coverages: Coverages,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[dict[str, Any]]:
    await open_client(access, clients, client_id, BILLERS, action="read", resource="coverage")
    found = await coverages.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await audit.record(
        caller, action="read", resource="coverage", client_id=client_id, request=request
    )
    return PageOut(items=[public(d) for d in found.items], next_cursor=found.next_cursor)


class FeeIn(Dated):
    site_id: str = Field(min_length=1, max_length=80)
    payer: str = Field(min_length=1, max_length=80, description=f"payer id, or {SELF_PAY!r}")
    cpt: Code
    modifiers: list[Modifier] = Field(default_factory=list, max_length=4)
    rate_cents: int = Field(ge=0, le=10_000_000, description="per unit")


@router.post(
    "/fee-schedules", status_code=status.HTTP_201_CREATED, summary="Add a fee schedule entry"
)
async def add_fee(
    body: FeeIn, caller: CurrentCaller, fees: FeeSchedules, payers: Payers
) -> dict[str, Any]:
    caller.require(BILLERS, body.site_id)
    if body.payer != SELF_PAY and await payers.get(caller.tenant_id, body.payer) is None:
        raise RuleViolation(f"no payer {body.payer}")
    doc = {"_id": str(uuid7()), **body.model_dump(mode="json"), "created_at": datetime.now(UTC)}
    return public(await fees.insert(caller.tenant_id, doc))


@router.get(
    "/fee-schedules",
    response_model=PageOut[dict[str, Any]],
    summary="Fee schedule entries of a site",
)
async def list_fees(
    site_id: str,
    caller: CurrentCaller,
    fees: FeeSchedules,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[dict[str, Any]]:
    caller.require(BILLERS, site_id)
    found = await fees.page(
        caller.tenant_id, {"site_id": site_id}, limit=page.limit, cursor=page.cursor
    )
    return PageOut(items=[public(d) for d in found.items], next_cursor=found.next_cursor)


class AuthorizationIn(Dated):
    coverage_id: str = Field(min_length=1, max_length=80)
    cpt: Code
    units_authorized: int = Field(ge=1, le=10_000)
    reference: X12Id | None = None  # the payer's authorization number (REF*G1)
    ends_on: date  # an authorization always ends


@router.post(
    "/clients/{client_id}/authorizations",
    status_code=status.HTTP_201_CREATED,
    summary="Record a prior authorization",
)
async def add_authorization(
    client_id: str,
    body: AuthorizationIn,
    caller: CurrentCaller,
    access: Access,
    clients: Clients,
    authorizations: PriorAuths,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    await open_client(
        access, clients, client_id, BILLERS, action="create", resource="authorization"
    )
    saved = await authorizations.record(caller, client_id, AuthorizationTerms(**body.model_dump()))
    await audit.record(
        caller,
        action="create",
        resource="authorization",
        resource_id=saved["_id"],
        client_id=client_id,
        request=request,
    )
    return _authorization(saved)


def _authorization(doc: dict[str, Any]) -> dict[str, Any]:
    """An authorization as the API shows it: which charges it counted stays internal."""
    out = public(doc)
    out.pop("applied_charges", None)
    return out


@router.get(
    "/clients/{client_id}/authorizations",
    response_model=PageOut[dict[str, Any]],
    summary="A client's authorizations and units used",
)
async def list_authorizations(
    client_id: str,
    caller: CurrentCaller,
    access: Access,
    clients: Clients,
    authorizations: Authorizations,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[dict[str, Any]]:
    await open_client(
        access,
        clients,
        client_id,
        BILLERS | {"front_desk"},
        action="read",
        resource="authorization",
    )
    found = await authorizations.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await audit.record(
        caller, action="read", resource="authorization", client_id=client_id, request=request
    )
    return PageOut(items=[_authorization(d) for d in found.items], next_cursor=found.next_cursor)


class ProfileIn(Body):
    """Who bills for a site: the 837P billing provider (2010AA) and interchange ids."""

    provider_name: Name
    npi: Npi
    tax_id: str = Field(pattern=r"^[0-9]{9}$", description="EIN, no dash")
    address: PostalAddress
    taxonomy: str | None = Field(default=None, pattern=r"^[0-9A-Z]{9}X$")
    submitter_id: X12Id
    receiver_id: X12Id
    receiver_name: Name = "CLEARINGHOUSE"
    contact_phone: str = Field(default="0000000000", pattern=r"^[0-9]{10}$")
    usage: Literal["P", "T"] = "P"

    @model_validator(mode="after")
    def _billing_zip_has_nine_digits(self) -> ProfileIn:
        # 005010X222A1 2010AA N403: the billing provider ZIP must be the full ZIP+4.
        if len(self.address.postal_code) != 9:
            raise ValueError("the billing provider's postal code must have 9 digits (ZIP+4)")
        return self


@router.put("/sites/{site_id}/billing-profile", summary="Set the billing provider of a site")
async def put_profile(
    site_id: str, body: ProfileIn, caller: CurrentCaller, profiles: Profiles
) -> dict[str, Any]:
    caller.require({"agency_admin", "biller"}, site_id)
    saved = await profiles.update(
        caller.tenant_id,
        {"_id": site_id},
        {"$set": {**body.model_dump(mode="json"), "updated_at": datetime.now(UTC)}},
        upsert=True,
    )
    if saved is None:
        raise NotFound(site_id)
    return public(saved)


class EligibilityIn(Body):
    coverage_id: str = Field(min_length=1, max_length=80)
    on: date


@router.post(
    "/clients/{client_id}/eligibility-requests",
    status_code=status.HTTP_201_CREATED,
    response_class=PlainTextResponse,
    summary="An X12 270 eligibility inquiry for a coverage (005010X279A1)",
)
async def eligibility_request(
    client_id: str,
    body: EligibilityIn,
    caller: CurrentCaller,
    access: Access,
    clients: Clients,
    questions: Questions,
    audit: Audit,
    request: Request,
) -> PlainTextResponse:
    client = await open_client(
        access,
        clients,
        client_id,
        BILLERS | {"front_desk"},
        action="create",
        resource="eligibility",
    )
    text = await questions.ask(caller, client_id, client["home_site_id"], body.coverage_id, body.on)
    await audit.record(
        caller, action="create", resource="eligibility", client_id=client_id, request=request
    )
    return PlainTextResponse(text, status_code=201, media_type="application/edi-x12")
