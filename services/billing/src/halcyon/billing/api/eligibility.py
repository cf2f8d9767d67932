"""271 eligibility responses posted back: read strictly, applied to the coverage (ADR 0605)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from halcyon.billing.api.common import BILLERS, public
from halcyon.billing.api.deps import Responses
from halcyon.billing.domain.x12 import X12Error
from halcyon.shared.access import Access
from halcyon.shared.errors import RuleViolation
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.service import Audit

router = APIRouter(tags=["eligibility"])
MAX_271_BYTES = 1024 * 1024
ELIGIBILITY_WORKERS = BILLERS | {"front_desk"}


TOO_LARGE = "a 271 for one inquiry is not larger than 1 MB"


async def read_271_body(request: Request) -> bytes:
    """The body, refused as soon as it passes the limit (never buffered whole first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_271_BYTES:
        raise RuleViolation(TOO_LARGE)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_271_BYTES:
            raise RuleViolation(TOO_LARGE)
    return bytes(body)


class X12Refused(RuleViolation):
    slug, title = "x12-not-understood", "The X12 file cannot be understood"


@router.post(
    "/eligibility-responses",
    status_code=status.HTTP_201_CREATED,
    summary="Post an X12 271 (raw body) answering one of our 270s: updates that coverage",
    responses={422: {"description": "malformed 271 (names the segment), or no such inquiry"}},
)
async def post_271(
    request: Request,
    caller: CurrentCaller,
    access: Access,
    responses: Responses,
    audit: Audit,
) -> dict[str, Any]:
    await access.require(ELIGIBILITY_WORKERS, None, action="update", resource="coverage")
    raw = await read_271_body(request)
    if not raw.strip():
        raise RuleViolation("the body is empty: send the 271 file as the request body")
    try:
        inquiry, coverage = await responses.post_271(caller, raw)
    except X12Error as exc:
        raise X12Refused(str(exc), segment=exc.segment, position=exc.position) from None
    await audit.record(
        caller,
        action="update",
        resource="coverage",
        resource_id=coverage["_id"],
        client_id=coverage["client_id"],
        request=request,
    )
    return {"inquiry": inquiry["_id"], "coverage": public(coverage)}
