"""What every inventory route shares: roles, the record as the API shows it, and the
route class that puts every refusal on the access audit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from halcyon.inventory.domain.quantities import mg_text
from halcyon.inventory.domain.roles import AUDITORS, DISPENSERS, HANDLERS, MANAGERS, READERS
from halcyon.shared.auth import Caller
from halcyon.shared.errors import BadRequest, DomainError, Unauthenticated
from halcyon.shared.mongo import Document
from halcyon.shared.service import runtime_of
from pydantic import BaseModel, ConfigDict

__all__ = ["AUDITORS", "DISPENSERS", "HANDLERS", "MANAGERS", "READERS", "Record", "out"]


class Record(BaseModel):
    """A stored record as the API shows it: ``id`` instead of ``_id``, no tenant field."""

    model_config = ConfigDict(extra="allow")
    id: str


def out(doc: Document) -> Record:
    fields = {k: v for k, v in doc.items() if k not in {"_id", "tenant_id"}}
    return Record(id=str(doc["_id"]), **with_milligrams(fields))


def _mg_key(key: str) -> str | None:
    """``quantity_ug`` → ``quantity_mg``, ``concentration_ug_per_ml`` → ``…_mg_per_ml``."""
    if key.endswith("_ug"):
        return key[:-3] + "_mg"
    if "_ug_per_" in key:
        return key.replace("_ug_per_", "_mg_per_")
    return None


def with_milligrams(value: Any) -> Any:
    """Every stored microgram figure shown beside itself as exact decimal milligrams
    (``"quantity_ug": 100`` → also ``"quantity_mg": "0.1"``): what people read (ADR 0502)."""
    if isinstance(value, dict):
        shown: dict[str, Any] = {}
        for key, item in value.items():
            shown[key] = with_milligrams(item)
            mg_key = _mg_key(str(key))
            if mg_key and isinstance(item, int) and not isinstance(item, bool):
                shown[mg_key] = mg_text(item)
        return shown
    if isinstance(value, list):
        return [with_milligrams(v) for v in value]
    return value


log = logging.getLogger("halcyon.inventory.audit")
_ACTIONS = {"GET": "read", "POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def _refusal_reason(refusal: Exception) -> str:
    """Why it was refused, without echoing what was sent (it may hold health data)."""
    if isinstance(refusal, RequestValidationError):
        fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) for e in refusal.errors()})
        return f"invalid request: {', '.join(f for f in fields if f) or 'body'}"
    rule = refusal.extensions.get("rule") if isinstance(refusal, DomainError) else None
    return f"{type(refusal).__name__}: {refusal}{f' ({rule})' if rule else ''}"[:500]


class RefusalsAudited(APIRoute):
    """Every refusal of a request (role, site, validation, rule, short stock; not a request
    that cannot be read at all, such as a forged cursor) lands in the
    access audit as ``denied`` with its reason (HIPAA 45 CFR 164.312(b)): an attempt that
    failed is as much an access attempt as one that succeeded."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        resource = f"inventory{self.path_format}"

        async def audited(request: Request) -> Response:
            try:
                return await handler(request)
            except (DomainError, RequestValidationError) as refusal:
                if isinstance(refusal, DomainError) and refusal.audited:
                    raise  # RecordAccess put it on the audit already (denied / failed)
                caller = getattr(request.state, "caller", None)
                # A request that cannot be read (400: a cursor we never handed out) made no
                # access decision; like every other malformed request it writes nothing.
                unread = isinstance(refusal, (Unauthenticated, BadRequest))
                if isinstance(caller, Caller) and not unread:
                    try:
                        await runtime_of(request).audit.record(
                            caller,
                            action=_ACTIONS.get(request.method, request.method.lower()),
                            resource=resource,
                            resource_id=next(iter(request.path_params.values()), None),
                            outcome="denied",
                            reason=_refusal_reason(refusal),
                            request=request,
                        )
                    except Exception:  # the refusal itself must still reach the caller
                        log.exception("could not audit a refused %s %s", request.method, resource)
                raise

        return audited
