"""``Idempotency-Key`` on creating POSTs: a retried request creates nothing twice.

The first request with a key reserves it (a unique insert), runs, and stores its
response; a retry with the same key and body replays that response; the same
key with a different body is a 422; a retry while the first is still running is
a 409. Failed requests (4xx/5xx) release the key so they can be retried.
Keys are scoped by the caller's tenant and user, taken from the verified token.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from halcyon.shared.auth import Authenticator, Caller, bearer_token
from halcyon.shared.errors import DomainError
from halcyon.shared.http.problems import problem
from halcyon.shared.mongo import Document
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        key = headers.get(b"idempotency-key", b"").decode("latin-1").strip()
        if scope["type"] != "http" or scope["method"] != "POST" or not key:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if len(key) > 255:
            await problem(
                422, "validation-error", "Idempotency-Key too long", "use at most 255 characters",
                request,
            )(scope, receive, send)  # fmt: skip
            return
        state_app = scope["app"].state
        database: AsyncDatabase[Document] | None = getattr(state_app, "database", None)
        caller = await _verified_caller(request)
        if database is None or caller is None:
            await self.app(scope, receive, send)  # the route's own auth answers 401
            return
        body = await _whole_body(receive)
        fingerprint = hashlib.sha256(scope["path"].encode() + b"\0" + body).hexdigest()
        keys = database["idempotency_keys"]
        record_id = f"{caller.tenant_id}:{caller.user_id}:{key}"
        try:
            await keys.insert_one(
                {
                    "_id": record_id,
                    "tenant_id": caller.tenant_id,
                    "fingerprint": fingerprint,
                    "state": "running",
                    "created_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            existing = await keys.find_one({"_id": record_id})
            await _earlier_answer(existing, fingerprint, request)(scope, receive, send)
            return
        await _run_and_record(self.app, scope, receive, send, body, keys, record_id)


async def _verified_caller(request: Request) -> Caller | None:
    """The caller a replay may be scoped to, or None to let the route answer itself."""
    authenticator: Authenticator | None = getattr(request.app.state, "authenticator", None)
    if authenticator is None:
        return None
    try:
        caller = await authenticator.verify(bearer_token(request.headers.get("authorization")))
        revocations = getattr(request.app.state, "revocations", None)
        if revocations is not None:
            revocations.refuse_if_revoked(caller)  # no replayed answer for an ended session
        caller.require_second_factor()  # nor for a token the route itself would refuse
    except DomainError:
        return None
    return caller


async def _whole_body(receive: Receive) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def _earlier_answer(existing: Document | None, fingerprint: str, request: Request) -> Response:
    """What a request whose key is already taken gets."""
    if existing is None:
        return problem(
            409, "conflict", "Retry in a moment",
            "the earlier request with this key just finished", request,
        )  # fmt: skip
    if existing["fingerprint"] != fingerprint:
        return problem(
            422, "idempotency-key-reused", "Idempotency-Key reused",
            "this key was used for a different request", request,
        )  # fmt: skip
    if existing["state"] == "running":
        return problem(
            409, "conflict", "Request in progress",
            "a request with this Idempotency-Key is still running", request,
        )  # fmt: skip
    return Response(
        content=existing["body"],
        status_code=existing["status"],
        headers={**existing["headers"], "idempotent-replayed": "true"},
    )


async def _run_and_record(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    body: bytes,
    keys: AsyncCollection[Document],
    record_id: str,
) -> None:
    """Run the request and store its outcome under the key (2xx) or release the key."""
    sent_body = False

    async def replay_body() -> Message:
        nonlocal sent_body
        if sent_body:
            return await receive()
        sent_body = True
        return {"type": "http.request", "body": body, "more_body": False}

    # The outcome is recorded before the caller sees the last byte: a client that
    # retries the moment it has its answer must get the replay, not "in progress".
    captured: dict[str, Any] = {"status": 500, "headers": {}, "body": b""}
    held: list[Message] = []
    settled = False

    async def settle() -> None:
        nonlocal settled
        settled = True
        if 200 <= captured["status"] < 300:
            await keys.update_one(
                {"_id": record_id},
                {
                    "$set": {
                        "state": "done",
                        "status": captured["status"],
                        "headers": captured["headers"],
                        "body": captured["body"],
                    }
                },
            )
        else:
            await keys.delete_one({"_id": record_id})

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            captured["status"] = message["status"]
            captured["headers"] = {
                k.decode("latin-1"): v.decode("latin-1")
                for k, v in message.get("headers", [])
                if k.lower() in (b"content-type", b"location")
            }
            held.append(message)
            return
        if message["type"] == "http.response.body":
            captured["body"] += message.get("body", b"")
            held.append(message)
            if message.get("more_body", False):
                return
            await settle()
            for each in held:
                await send(each)
            held.clear()
            return
        await send(message)

    try:
        await app(scope, replay_body, capture)
    finally:
        if not settled:
            captured["status"] = 500  # never finished: release the key for a retry
            await settle()
