"""A local stand-in for an SMS provider's HTTP API, for development and tests.

    python -m halcyon.notifications.devsms         # HTTP on :8125

- ``POST /messages`` {to, from, body, client_ref} accepts a message (or answers 503 when
  told to fail), and shortly after posts a signed delivery receipt to the webhook.
- ``POST /control/fail`` {count, mode}: the next ``count`` messages fail, either at once
  (``mode="reject"``: HTTP 503) or later by receipt (``mode="receipt"``: status failed).
- ``PUT /control/webhook`` {base_url}: where receipts and inbound replies go, as one would
  configure it in a real provider's console (``HALCYON_DEVSMS_WEBHOOK_BASE`` at start).
- ``POST /control/inbound`` {from, body}: simulate a client's reply (e.g. "STOP").
- ``GET /messages``: every accepted message; ``GET /attempts``: every attempt, failed too.

Webhooks carry ``X-Provider-Signature``: HMAC-SHA256 of the body with the shared secret.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from halcyon.notifications.links import webhook_signature
from halcyon.notifications.settings import DEVELOPMENT_WEBHOOK_SECRET
from pydantic import BaseModel, ConfigDict, Field


class OutboundSms(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    to: str
    from_: str = Field(alias="from", default="")
    body: str
    client_ref: str | None = None


class FailPlan(BaseModel):
    count: int = Field(ge=0)
    mode: Literal["reject", "receipt"] = "reject"


class WebhookConfig(BaseModel):
    base_url: str


class InboundReply(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: str = Field(alias="from")
    body: str


async def _post_webhook(
    state: dict[str, Any], secret: str, path: str, payload: dict[str, Any]
) -> None:
    base = state["webhook"]
    if not base:
        return
    body = json.dumps(payload).encode()
    headers = {
        "content-type": "application/json",
        "x-provider-signature": webhook_signature(secret, body),
    }
    for attempt in range(5):  # providers retry webhooks too
        try:
            async with httpx.AsyncClient(timeout=5.0) as http:
                response = await http.post(f"{base}{path}", content=body, headers=headers)
            if response.status_code < 500:
                return
        except httpx.HTTPError:
            pass
        state["webhook_errors"] += 1
        await asyncio.sleep(0.2 * (attempt + 1))


def create_app(secret: str, webhook_base: str | None, receipt_delay: float = 0.1) -> FastAPI:
    app = FastAPI(title="Halcyon SMS provider stand-in")
    state: dict[str, Any] = {
        "messages": [],
        "attempts": [],
        "fail": FailPlan(count=0),
        "webhook": webhook_base,
        "webhook_errors": 0,
    }
    tasks: set[asyncio.Task[None]] = set()

    async def post_webhook(path: str, payload: dict[str, Any]) -> None:
        await _post_webhook(state, secret, path, payload)

    async def receipt_later(message: dict[str, Any], status: str, error: str | None) -> None:
        await asyncio.sleep(receipt_delay)
        message["status"] = status
        await post_webhook(
            "/webhooks/sms/receipts",
            {
                "message_id": message["id"],
                "client_ref": message["client_ref"],
                "status": status,
                "error": error,
            },
        )

    def spawn(coro: Any) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    @app.get("/healthz")
    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/messages", status_code=201)
    async def send(message: OutboundSms) -> JSONResponse:
        plan: FailPlan = state["fail"]
        failing = plan.count > 0
        if failing:
            state["fail"] = FailPlan(count=plan.count - 1, mode=plan.mode)
        record = {
            "id": f"SM{uuid.uuid4().hex[:24]}",
            "to": message.to,
            "from": message.from_,
            "body": message.body,
            "client_ref": message.client_ref,
            "received_at": datetime.now(UTC).isoformat(),
            "status": "accepted",
        }
        state["attempts"].append({**record, "failed": failing, "mode": plan.mode})
        if failing and plan.mode == "reject":
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        state["messages"].append(record)
        if failing:
            spawn(receipt_later(record, "failed", "carrier rejected the message"))
        else:
            spawn(receipt_later(record, "delivered", None))
        return JSONResponse({"id": record["id"], "status": "accepted"}, status_code=201)

    @app.get("/messages")
    async def messages(to: str | None = None) -> list[dict[str, Any]]:
        return [m for m in state["messages"] if to is None or m["to"] == to]

    @app.get("/attempts")
    async def attempts(to: str | None = None) -> list[dict[str, Any]]:
        return [m for m in state["attempts"] if to is None or m["to"] == to]

    @app.post("/control/fail")
    async def fail(plan: FailPlan) -> dict[str, Any]:
        state["fail"] = plan
        return plan.model_dump()

    @app.put("/control/webhook")
    async def webhook(config: WebhookConfig) -> dict[str, str]:
        state["webhook"] = config.base_url.rstrip("/")
        return {"base_url": state["webhook"]}

    @app.post("/control/inbound", status_code=202)
    async def inbound(reply: InboundReply) -> dict[str, str]:
        message_id = f"IN{uuid.uuid4().hex[:24]}"
        await post_webhook(
            "/webhooks/sms/inbound",
            {"message_id": message_id, "from": reply.from_, "to": "", "body": reply.body},
        )
        return {"message_id": message_id}

    return app


app = create_app(
    os.environ.get("HALCYON_DEVSMS_SECRET", DEVELOPMENT_WEBHOOK_SECRET),
    os.environ.get("HALCYON_DEVSMS_WEBHOOK_BASE"),
)

if __name__ == "__main__":
    import uvicorn

    host = os.environ.get("HALCYON_DEVSMS_HOST", "127.0.0.1")  # 0.0.0.0 in a container
    uvicorn.run(app, host=host, port=int(os.environ.get("HALCYON_DEVSMS_PORT", "8125")))
