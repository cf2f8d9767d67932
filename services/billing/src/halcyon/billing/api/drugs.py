"""Buy and bill: how each substance is billed, and what became of each dispensed dose."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from halcyon.billing.api.common import BILLERS, open_client, public
from halcyon.billing.api.deps import Clients, Dispenses, DrugCodes
from halcyon.billing.domain.drugs import drug_codes_with_defaults, ndc11
from halcyon.shared.access import Access
from halcyon.shared.errors import NotFound
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.service import Audit
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

router = APIRouter(tags=["drugs"])
Substance = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{1,39}$")]


class ProductNdc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str = Field(min_length=1, max_length=80, description="inventory's product id")
    ndc: str = Field(description="10-digit label NDC with hyphens, or the 11 digits")

    @field_validator("ndc")
    @classmethod
    def _eleven_digits(cls, value: str) -> str:
        return ndc11(value)


class DrugCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    billable: bool
    hcpcs: str | None = Field(default=None, pattern=r"^[A-Z0-9]{5}$")
    mg_per_unit: float = Field(default=1.0, gt=0, le=100_000, description="the code's unit")
    not_billed_reason: str | None = Field(default=None, max_length=200)
    products: list[ProductNdc] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _billable_has_a_code(self) -> DrugCodeIn:
        if self.billable and not self.hcpcs:
            raise ValueError("a billable substance needs its HCPCS code")
        if not self.billable and not self.not_billed_reason:
            raise ValueError("say why the substance is not billed (not_billed_reason)")
        return self


@router.put("/drug-codes/{substance}", summary="How the agency bills a substance it dispenses")
async def put_drug_code(
    substance: Substance, body: DrugCodeIn, caller: CurrentCaller, codes: DrugCodes
) -> dict[str, Any]:
    caller.require(BILLERS)
    saved = await codes.update(
        caller.tenant_id,
        # Substance names repeat across agencies; the _id is unique per collection.
        {"_id": f"{caller.tenant_id}:{substance}"},
        {
            "$set": {
                "substance": substance,
                **body.model_dump(mode="json"),
                "updated_at": datetime.now(UTC),
                "updated_by": caller.user_id,
            }
        },
        upsert=True,
    )
    if saved is None:  # an upsert always leaves the document
        raise NotFound(f"drug code {substance}")
    return public(saved)


@router.get("/drug-codes", summary="Substances and how each is billed (agency's, else default)")
async def list_drug_codes(caller: CurrentCaller, codes: DrugCodes) -> dict[str, Any]:
    caller.require(BILLERS)
    configured = [public(d) for d in await codes.find(caller.tenant_id, {})]
    return {"items": drug_codes_with_defaults(configured)}


@router.get(
    "/clients/{client_id}/dispenses",
    response_model=PageOut[dict[str, Any]],
    summary="A client's dispensed doses: the drug charge each became, or why none",
)
async def list_dispenses(
    client_id: str,
    caller: CurrentCaller,
    access: Access,
    clients: Clients,
    dispenses: Dispenses,
    audit: Audit,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> PageOut[dict[str, Any]]:
    await open_client(access, clients, client_id, BILLERS, action="read", resource="dispenses")
    found = await dispenses.page(
        caller.tenant_id, {"client_id": client_id}, limit=page.limit, cursor=page.cursor
    )
    await audit.record(
        caller, action="read", resource="dispenses", client_id=client_id, request=request
    )
    return PageOut(items=[public(d) for d in found.items], next_cursor=found.next_cursor)
