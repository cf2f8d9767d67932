"""The client's own say: the unsubscribe link, and the SMS provider's webhooks (delivery
receipts; replies, where STOP opts the sender out and START back in)."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse
from halcyon.notifications.api.common import Strict
from halcyon.notifications.api.deps import Runtime
from halcyon.notifications.domain.consent import opt_out_by_reply
from halcyon.notifications.links import read_unsubscribe_token, webhook_signature
from halcyon.notifications.usecases.preferences import opt_out, reply_by_sms
from halcyon.shared.errors import NotFound, RuleViolation, Unauthenticated, Unavailable
from pydantic import Field

router = APIRouter()


@router.get(
    "/unsubscribe/{token}",
    tags=["consent"],
    response_class=HTMLResponse,
    summary="Unsubscribe link from a message (no sign-in: the token is signed)",
)
async def unsubscribe(token: str, runtime: Runtime, request: Request) -> HTMLResponse:
    found = read_unsubscribe_token(runtime.settings.field_encryption_key, token)
    if found is None:
        raise NotFound("this unsubscribe link is not valid")
    tenant, client_id = found
    await opt_out(runtime, tenant, client_id, "unsubscribe-link", request)
    return HTMLResponse("<p>You will not receive further messages from us.</p>")


# -- SMS provider webhooks ---------------------------------------------------------------
async def _signed_json(request: Request, secret: str, signature: str | None) -> Any:
    body = await request.body()
    expected = webhook_signature(secret, body)
    if not signature or not hmac.compare_digest(expected, signature):
        raise Unauthenticated("webhook signature missing or wrong")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise RuleViolation("webhook body is not JSON") from exc


class Receipt(Strict):
    message_id: str
    client_ref: str
    status: Literal["delivered", "failed", "undelivered"]
    error: str | None = None


class InboundSms(Strict):
    message_id: str | None = None
    from_: str = Field(alias="from")
    to: str | None = None
    body: str


@router.post(
    "/webhooks/sms/receipts",
    tags=["webhooks"],
    status_code=204,
    summary="Delivery receipts from the SMS provider (HMAC-signed)",
)
async def sms_receipt(
    request: Request,
    runtime: Runtime,
    x_provider_signature: Annotated[str | None, Header()] = None,
) -> None:
    secret = runtime.settings.sms_webhook_secret
    receipt = Receipt.model_validate(await _signed_json(request, secret, x_provider_signature))
    outcome = await runtime.parts.worker.provider_receipt(
        receipt.client_ref, receipt.status, receipt.error
    )
    if outcome == "early":
        # The receipt overtook our own record of the send: 503 makes the provider retry.
        raise Unavailable("delivery not yet recorded as sent; retry the receipt")


@router.post(
    "/webhooks/sms/inbound",
    tags=["webhooks"],
    status_code=204,
    summary="Replies to our SMS; STOP opts the sender out (HMAC-signed)",
)
async def sms_inbound(
    request: Request,
    runtime: Runtime,
    x_provider_signature: Annotated[str | None, Header()] = None,
) -> None:
    secret = runtime.settings.sms_webhook_secret
    message = InboundSms.model_validate(await _signed_json(request, secret, x_provider_signature))
    opted_out = opt_out_by_reply(message.body)
    if opted_out is not None:
        await reply_by_sms(runtime, message.from_, opted_out, request)
