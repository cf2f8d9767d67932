"""Notifications HTTP API: inbox, preferences, consent webhooks, deliveries, templates."""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import HTMLResponse
from halcyon.notifications.domain.privacy import clinical_terms_in
from halcyon.notifications.domain.templates import (
    CLIENT_CHANNELS,
    CLIENT_TEMPLATES,
    DEFAULTS,
    STAFF_CHANNELS,
    STAFF_TEMPLATES,
    MessageTemplate,
    TemplateInvalid,
    render,
)
from halcyon.notifications.links import read_unsubscribe_token, webhook_signature
from halcyon.notifications.settings import NotificationsSettings
from halcyon.notifications.store import (
    AgencyTemplates,
    ClientContacts,
    ClientPreferencesStore,
    DeadDeliveries,
    Deliveries,
    Inbox,
    Reminders,
    StaffPreferencesStore,
)
from halcyon.notifications.usecases.alerts import acknowledge
from halcyon.notifications.usecases.delivery import DeliveryWorker
from halcyon.notifications.usecases.notifier import Notifier
from halcyon.shared.auth import Caller
from halcyon.shared.errors import (
    InvalidCursor,
    NotFound,
    RuleViolation,
    Unauthenticated,
    Unavailable,
)
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document, decode_cursor, encode_cursor
from halcyon.shared.service import Audit, Runtime, repository
from pydantic import BaseModel, ConfigDict, Field, field_validator

router = APIRouter()
Page = Annotated[PageParams, Depends(page_params)]
CLIENT_PREFERENCE_EDITORS = {"front_desk", "agency_admin"}
ADMINS = {"agency_admin"}
# Dosing-day sample used to check that an agency's client template leaks nothing clinical.
SAMPLE_CLIENT_CONTEXT = {
    "given_name": "Sam",
    "appointment_label": "appointment",
    "when": "2026-12-01 09:00 MST",
    "unsubscribe_url": "https://example.invalid/unsubscribe/x",
    "lead": "tomorrow",
    "expires": "2026-11-30 18:00 UTC",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _settings(runtime: Runtime) -> NotificationsSettings:
    settings = runtime.settings
    assert isinstance(settings, NotificationsSettings)
    return settings


def _notifier(runtime: Runtime) -> Notifier:
    notifier: Notifier = runtime.extras["notifier"]
    return notifier


def _worker(runtime: Runtime) -> DeliveryWorker:
    worker: DeliveryWorker = runtime.extras["worker"]
    return worker


# -- staff inbox ---------------------------------------------------------------------------
class InboxItem(BaseModel):
    id: str
    kind: str
    severity: str
    title: str
    body: str
    client_id: str | None = None
    created_at: datetime
    read_at: datetime | None = None
    acknowledged_at: datetime | None = None


def _inbox_item(doc: Document) -> InboxItem:
    return InboxItem(
        id=doc["_id"],
        kind=doc["kind"],
        severity=doc.get("severity", "info"),
        title=doc["title"],
        body=doc["body"],
        client_id=doc.get("client_id"),
        created_at=doc["created_at"],
        read_at=doc.get("read_at"),
        acknowledged_at=doc.get("acknowledged_at"),
    )


@router.get(
    "/inbox",
    tags=["inbox"],
    response_model=PageOut[InboxItem],
    summary="My in-app messages, newest first",
)
async def list_inbox(
    caller: CurrentCaller,
    inbox: Annotated[Inbox, repository(Inbox)],
    page: Page,
    audit: Audit,
    request: Request,
    unread: Annotated[bool, Query(description="only unread messages")] = False,
) -> PageOut[InboxItem]:
    # Staff read only their own inbox: the owner is the token's subject, never a parameter.
    query: dict[str, Any] = {"staff_id": caller.user_id}
    if unread:
        query["read_at"] = None
    if page.cursor:
        try:
            query["_id"] = {"$lt": decode_cursor(page.cursor)}
        except ValueError as exc:
            raise InvalidCursor("use next_cursor from the previous page, unchanged") from exc
    docs = await inbox.find(caller.tenant_id, query, sort=[("_id", -1)], limit=page.limit + 1)
    items = [_inbox_item(doc) for doc in docs[: page.limit]]
    # One audit entry per client the page shows: a client's access report must find it.
    for client_id in sorted({item.client_id for item in items if item.client_id}):
        await audit.record(
            caller,
            action="read",
            resource="notifications/inbox",
            client_id=client_id,
            request=request,
        )
    next_cursor = encode_cursor(docs[page.limit - 1]["_id"]) if len(docs) > page.limit else None
    return PageOut[InboxItem](items=items, next_cursor=next_cursor)


class UnreadCount(BaseModel):
    unread: int


@router.get("/inbox/unread-count", tags=["inbox"], response_model=UnreadCount)
async def unread_count(
    caller: CurrentCaller, inbox: Annotated[Inbox, repository(Inbox)]
) -> UnreadCount:
    count = await inbox.count(caller.tenant_id, {"staff_id": caller.user_id, "read_at": None})
    return UnreadCount(unread=count)


@router.post(
    "/inbox/{item_id}/read",
    tags=["inbox"],
    response_model=InboxItem,
    summary="Mark one of my messages read",
)
async def mark_read(
    item_id: str,
    caller: CurrentCaller,
    inbox: Annotated[Inbox, repository(Inbox)],
    runtime: Runtime,
) -> InboxItem:
    doc = await inbox.get(caller.tenant_id, item_id)
    if doc is None or doc["staff_id"] != caller.user_id:
        # Someone else's message is indistinguishable from none (no probing of ids).
        raise NotFound(f"no message {item_id} in your inbox")
    if doc.get("read_at") is None:
        doc = (
            await inbox.update(
                caller.tenant_id,
                {"_id": item_id, "staff_id": caller.user_id},
                {"$set": {"read_at": _notifier(runtime).clock.now()}},
            )
            or doc
        )
    return _inbox_item(doc)


@router.post(
    "/inbox/{item_id}/acknowledge",
    tags=["inbox"],
    response_model=InboxItem,
    summary="Acknowledge an urgent alert: stops its escalation to on-call staff",
)
async def acknowledge_alert(
    item_id: str,
    caller: CurrentCaller,
    inbox: Annotated[Inbox, repository(Inbox)],
    runtime: Runtime,
    audit: Audit,
    request: Request,
) -> InboxItem:
    doc = await inbox.get(caller.tenant_id, item_id)
    if doc is None or doc["staff_id"] != caller.user_id:
        raise NotFound(f"no message {item_id} in your inbox")
    now = _notifier(runtime).clock.now()
    if doc.get("acknowledged_at") is None:
        doc = (
            await inbox.update(
                caller.tenant_id,
                {"_id": item_id, "staff_id": caller.user_id},
                {"$set": {"acknowledged_at": now, "read_at": doc.get("read_at") or now}},
            )
            or doc
        )
    await acknowledge(runtime, caller.tenant_id, caller.user_id, doc.get("client_id"), now)
    await audit.record(
        caller,
        action="update",
        resource="notifications/alert",
        resource_id=item_id,
        client_id=doc.get("client_id"),
        request=request,
    )
    return _inbox_item(doc)


# -- staff alert preferences -----------------------------------------------------------------
class StaffPreferencesIn(Strict):
    preferred_channel: Literal["email", "none"] = "email"
    alerts: dict[str, list[Literal["inbox", "email"]]] = Field(default_factory=dict)

    @field_validator("alerts")
    @classmethod
    def _known_alerts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(value) - set(STAFF_TEMPLATES)
        if unknown:
            raise ValueError(f"unknown alert kinds {sorted(unknown)}")
        return value


@router.get("/staff/me/preferences", tags=["preferences"], response_model=StaffPreferencesIn)
async def my_preferences(
    caller: CurrentCaller,
    prefs: Annotated[StaffPreferencesStore, repository(StaffPreferencesStore)],
) -> StaffPreferencesIn:
    doc = await prefs.get(caller.tenant_id, caller.user_id) or {}
    return StaffPreferencesIn(
        preferred_channel=doc.get("preferred_channel", "email"), alerts=doc.get("alerts", {})
    )


@router.put(
    "/staff/me/preferences",
    tags=["preferences"],
    response_model=StaffPreferencesIn,
    summary="Which alerts I get and how (urgent clinical alerts always reach the inbox)",
)
async def set_my_preferences(
    body: StaffPreferencesIn,
    caller: CurrentCaller,
    prefs: Annotated[StaffPreferencesStore, repository(StaffPreferencesStore)],
) -> StaffPreferencesIn:
    await prefs.update(
        caller.tenant_id,
        {"_id": caller.user_id},
        {"$set": body.model_dump()},
        upsert=True,
    )
    return body


# -- client preferences and consent ---------------------------------------------------------
class QuietHoursIn(Strict):
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["21:00"])
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["08:00"])


class ClientPreferencesIn(Strict):
    channel: Literal["email", "sms"] | None = None
    quiet_hours: QuietHoursIn | None = None
    opted_out: bool = False
    # Opt-in to naming the kind of appointment in messages (default: neutral wording).
    share_appointment_details: bool = False


class ClientPreferencesOut(ClientPreferencesIn):
    client_id: str
    contact_known: bool
    has_email: bool = False
    has_phone: bool = False
    history: list[dict[str, Any]] = []


async def _client_home_site(caller: Caller, contacts: ClientContacts, client_id: str) -> Document:
    contact = await contacts.get(caller.tenant_id, client_id)
    if contact is None:
        raise NotFound(f"notifications does not know client {client_id} (yet)")
    return contact


def _prefs_out(client_id: str, contact: Document, doc: Document | None) -> ClientPreferencesOut:
    doc = doc or {}
    return ClientPreferencesOut(
        client_id=client_id,
        contact_known=True,
        has_email=bool(contact.get("email")),
        has_phone=bool(contact.get("phone")),
        channel=doc.get("channel"),
        quiet_hours=QuietHoursIn(**doc["quiet_hours"]) if doc.get("quiet_hours") else None,
        opted_out=bool(doc.get("opted_out", False)),
        share_appointment_details=bool(doc.get("share_appointment_details", False)),
        history=[{k: v for k, v in h.items() if k != "_id"} for h in doc.get("history", [])],
    )


@router.get(
    "/clients/{client_id}/preferences", tags=["preferences"], response_model=ClientPreferencesOut
)
async def client_preferences(
    client_id: str,
    caller: CurrentCaller,
    contacts: Annotated[ClientContacts, repository(ClientContacts)],
    prefs: Annotated[ClientPreferencesStore, repository(ClientPreferencesStore)],
    audit: Audit,
    request: Request,
) -> ClientPreferencesOut:
    contact = await _client_home_site(caller, contacts, client_id)
    site = contact.get("home_site_id")
    if not caller.has_role(CLIENT_PREFERENCE_EDITORS, site):
        await audit.record(
            caller,
            action="read",
            resource="notifications/client-preferences",
            client_id=client_id,
            site_id=site,
            outcome="denied",
            request=request,
        )
        caller.require(CLIENT_PREFERENCE_EDITORS, site)
    await audit.record(
        caller,
        action="read",
        resource="notifications/client-preferences",
        client_id=client_id,
        site_id=site,
        request=request,
    )
    return _prefs_out(client_id, contact, await prefs.get(caller.tenant_id, client_id))


@router.put(
    "/clients/{client_id}/preferences",
    tags=["preferences"],
    response_model=ClientPreferencesOut,
    summary="Channel, quiet hours (client's time zone), opt-out, detail opt-in",
)
async def set_client_preferences(
    client_id: str,
    body: ClientPreferencesIn,
    caller: CurrentCaller,
    contacts: Annotated[ClientContacts, repository(ClientContacts)],
    prefs: Annotated[ClientPreferencesStore, repository(ClientPreferencesStore)],
    audit: Audit,
    request: Request,
    runtime: Runtime,
) -> ClientPreferencesOut:
    contact = await _client_home_site(caller, contacts, client_id)
    site = contact.get("home_site_id")
    if not caller.has_role(CLIENT_PREFERENCE_EDITORS, site):
        await audit.record(
            caller,
            action="update",
            resource="notifications/client-preferences",
            client_id=client_id,
            site_id=site,
            outcome="denied",
            request=request,
        )
        caller.require(CLIENT_PREFERENCE_EDITORS, site)
    if body.channel and not contact.get("phone" if body.channel == "sms" else "email"):
        raise RuleViolation(f"client {client_id} has no {body.channel} address on file")
    values = body.model_dump()
    doc = await prefs.update(
        caller.tenant_id,
        {"_id": client_id},
        {
            "$set": values,
            "$push": {
                "history": {
                    "at": _notifier(runtime).clock.now(),
                    "by": caller.user_id,
                    "via": "staff",
                    **values,
                }
            },
        },
        upsert=True,
    )
    await audit.record(
        caller,
        action="update",
        resource="notifications/client-preferences",
        resource_id=client_id,
        client_id=client_id,
        site_id=site,
        request=request,
    )
    return _prefs_out(client_id, contact, doc)


async def _opt_out(
    runtime: Runtime,
    tenant: str,
    client_id: str,
    via: str,
    request: Request,
    *,
    opted_out: bool = True,
) -> None:
    prefs = runtime.repo(ClientPreferencesStore)
    now = _notifier(runtime).clock.now()
    await prefs.update(
        tenant,
        {"_id": client_id},
        {
            "$set": {"opted_out": opted_out},
            "$push": {
                "history": {
                    "at": now,
                    "by": f"client:{client_id}",
                    "via": via,
                    "opted_out": opted_out,
                }
            },
        },
        upsert=True,
    )
    # The client acted, not a staff member: audited under a service identity naming the path.
    actor = Caller(user_id=f"service:notifications:{via}", tenant_id=tenant)
    await runtime.audit.record(
        actor,
        action="update",
        resource="notifications/client-opt-out",
        resource_id=client_id,
        client_id=client_id,
        request=request,
    )


@router.get(
    "/unsubscribe/{token}",
    tags=["consent"],
    response_class=HTMLResponse,
    summary="Unsubscribe link from a message (no sign-in: the token is signed)",
)
async def unsubscribe(token: str, runtime: Runtime, request: Request) -> HTMLResponse:
    found = read_unsubscribe_token(_settings(runtime).field_encryption_key, token)
    if found is None:
        raise NotFound("this unsubscribe link is not valid")
    tenant, client_id = found
    await _opt_out(runtime, tenant, client_id, "unsubscribe-link", request)
    return HTMLResponse("<p>You will not receive further messages from us.</p>")


# -- SMS provider webhooks ---------------------------------------------------------------
async def _signed_json(request: Request, runtime: Runtime, signature: str | None) -> Any:
    body = await request.body()
    expected = webhook_signature(_settings(runtime).sms_webhook_secret, body)
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


# The carrier (CTIA) keywords: these opt out of, and START/UNSTOP back into, messages.
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "baja", "parar"}
START_WORDS = {"start", "unstop", "yes", "alta"}


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
    receipt = Receipt.model_validate(await _signed_json(request, runtime, x_provider_signature))
    outcome = await _worker(runtime).provider_receipt(
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
    message = InboundSms.model_validate(await _signed_json(request, runtime, x_provider_signature))
    keyword = message.body.strip().lower()
    if keyword not in STOP_WORDS | START_WORDS:
        return
    # STOP applies to the number it was sent to, which every agency here shares (carrier
    # rules): opt the phone out in every agency that has it.
    cursor = runtime.database[ClientContacts.collection_name].find(
        {"phone": message.from_}, projection={"_id": 1, "tenant_id": 1}
    )
    stop = keyword in STOP_WORDS
    for doc in [doc async for doc in cursor]:
        await _opt_out(
            runtime,
            doc["tenant_id"],
            doc["_id"],
            "sms-stop" if stop else "sms-start",
            request,
            opted_out=stop,
        )


# -- deliveries, dead letters, reminders (operations) -------------------------------------
DeliveryStatus = Literal[
    "queued", "sending", "sent", "delivered", "failed", "dead", "suppressed", "withdrawn"
]


class DeliveryOut(BaseModel):
    id: str
    rule: str
    channel: str
    status: str
    recipient_kind: str
    recipient_id: str
    attempts: int
    subject: str = ""
    text: str = ""
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    reason: str | None = None
    deferred_for_quiet_hours: bool = False


def _delivery_out(doc: Document) -> DeliveryOut:
    return DeliveryOut(
        id=doc["_id"],
        rule=doc["rule"],
        channel=doc["channel"],
        status=doc["status"],
        recipient_kind=doc["recipient_kind"],
        recipient_id=doc["recipient_id"],
        attempts=doc.get("attempts", 0),
        subject=doc.get("subject", ""),
        text=doc.get("text", ""),
        created_at=doc["created_at"],
        next_attempt_at=doc.get("next_attempt_at"),
        last_error=doc.get("last_error"),
        reason=doc.get("reason"),
        deferred_for_quiet_hours=bool(doc.get("deferred_for_quiet_hours")),
    )


@router.get(
    "/deliveries",
    tags=["deliveries"],
    response_model=PageOut[DeliveryOut],
    summary="Messages and their status (agency admins)",
)
async def list_deliveries(
    caller: CurrentCaller,
    deliveries: Annotated[Deliveries, repository(Deliveries)],
    page: Page,
    audit: Audit,
    request: Request,
    recipient_id: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> PageOut[DeliveryOut]:
    if not caller.has_role(ADMINS):
        await audit.record(
            caller,
            action="read",
            resource="notifications/deliveries",
            outcome="denied",
            request=request,
        )
        caller.require(ADMINS)
    query: dict[str, Any] = {}
    if recipient_id:
        query["recipient_id"] = recipient_id
    if status:
        query["status"] = status
    try:
        found = await deliveries.page(caller.tenant_id, query, limit=page.limit, cursor=page.cursor)
    except ValueError as exc:
        raise InvalidCursor("use next_cursor from the previous page, unchanged") from exc
    # Deliveries to a client carry their address and message: a read of client data.
    client_ids = {d["recipient_id"] for d in found.items if d["recipient_kind"] == "client"}
    await audit.record(
        caller,
        action="read",
        resource="notifications/deliveries",
        resource_id=recipient_id,
        client_id=next(iter(client_ids)) if len(client_ids) == 1 else None,
        request=request,
    )
    return PageOut[DeliveryOut](
        items=[_delivery_out(d) for d in found.items], next_cursor=found.next_cursor
    )


class DeadDeliveryOut(BaseModel):
    id: str
    channel: str
    recipient_kind: str
    recipient_id: str
    rule: str
    attempts: int
    last_error: str | None = None
    dead_at: datetime


@router.get(
    "/dead-deliveries",
    tags=["deliveries"],
    response_model=PageOut[DeadDeliveryOut],
    summary="Messages that failed every attempt (agency admins)",
)
async def list_dead(
    caller: CurrentCaller,
    dead: Annotated[DeadDeliveries, repository(DeadDeliveries)],
    page: Page,
) -> PageOut[DeadDeliveryOut]:
    caller.require(ADMINS)
    try:
        found = await dead.page(caller.tenant_id, {}, limit=page.limit, cursor=page.cursor)
    except ValueError as exc:
        raise InvalidCursor("use next_cursor from the previous page, unchanged") from exc
    return PageOut[DeadDeliveryOut](
        items=[
            DeadDeliveryOut(
                id=d["_id"], **{k: d.get(k) for k in DeadDeliveryOut.model_fields if k != "id"}
            )
            for d in found.items
        ],
        next_cursor=found.next_cursor,
    )


class ReminderOut(BaseModel):
    id: str
    appointment_id: str
    kind: str
    status: str
    due_at: datetime
    starts_at: datetime


@router.get(
    "/appointments/{appointment_id}/reminders", tags=["reminders"], response_model=list[ReminderOut]
)
async def appointment_reminders(
    appointment_id: str,
    caller: CurrentCaller,
    reminders: Annotated[Reminders, repository(Reminders)],
    audit: Audit,
    request: Request,
) -> list[ReminderOut]:
    docs = await reminders.find(caller.tenant_id, {"appointment_id": appointment_id})
    if not docs:
        # Reminders are kept after sending and cancelling: none means no such appointment
        # in this agency (another agency's id included), not an empty list.
        raise NotFound(f"no appointment {appointment_id} with reminders in this agency")
    for doc in docs:
        allowed = caller.has_role({"front_desk", "agency_admin"}, doc.get("site_id"))
        await audit.record(
            caller,
            action="read",
            resource="notifications/reminders",
            resource_id=appointment_id,
            client_id=doc.get("client_id"),
            site_id=doc.get("site_id"),
            outcome="success" if allowed else "denied",
            request=request,
        )
        caller.require({"front_desk", "agency_admin"}, doc.get("site_id"))
        break  # one appointment: one site, one client, one audit entry
    return [
        ReminderOut(
            id=d["_id"],
            appointment_id=d["appointment_id"],
            kind=d["kind"],
            status=d["status"],
            due_at=d["due_at"],
            starts_at=d["starts_at"],
        )
        for d in docs
    ]


# -- agency templates -----------------------------------------------------------------------
class TemplateIn(Strict):
    subject: str = Field(default="", max_length=300)
    text: str = Field(min_length=1, max_length=5000)
    html: str | None = Field(default=None, max_length=20000)


class TemplateOut(TemplateIn):
    template: str
    channel: str
    language: str


@router.put(
    "/templates/{template}/{channel}/{language}",
    tags=["templates"],
    response_model=TemplateOut,
    summary="Set this agency's variant of a template (validated before it is saved)",
)
async def put_template(
    template: str,
    channel: str,
    language: Annotated[str, Path(pattern=r"^[a-z]{2}$")],
    body: TemplateIn,
    caller: CurrentCaller,
    templates: Annotated[AgencyTemplates, repository(AgencyTemplates)],
) -> TemplateOut:
    caller.require(ADMINS)
    is_client = template in CLIENT_TEMPLATES
    if not is_client and template not in STAFF_TEMPLATES:
        raise NotFound(f"no template {template!r}")
    if channel not in (CLIENT_CHANNELS if is_client else STAFF_CHANNELS):
        raise RuleViolation(f"template {template!r} has no {channel!r} variant")
    candidate = MessageTemplate(subject=body.subject, text=body.text, html=body.html)
    context: dict[str, Any] = dict(SAMPLE_CLIENT_CONTEXT)
    if not is_client:
        context = {"title": "Alert", **_staff_sample(template)}
    try:
        rendered = render(candidate, context)
    except TemplateInvalid as exc:
        raise RuleViolation(f"template does not render: {exc}") from exc
    if is_client:
        leaked = clinical_terms_in(" ".join([rendered.subject, rendered.text, rendered.html or ""]))
        if leaked:
            raise RuleViolation("a message to clients may not name clinical details", terms=leaked)
    await templates.update(
        caller.tenant_id,
        {"_id": f"{template}:{channel}:{language}"},
        {
            "$set": {
                "template": template,
                "channel": channel,
                "language": language,
                **body.model_dump(),
            }
        },
        upsert=True,
    )
    return TemplateOut(template=template, channel=channel, language=language, **body.model_dump())


def _staff_sample(template: str) -> dict[str, Any]:
    # Any variable a default staff template uses, so an agency variant can use them too.
    return {
        "site_id": "site",
        "client_id": "client",
        "breaches": ["x"],
        "measured_at": "t",
        "instrument": "i",
        "reason": "r",
        "raised_at": "t",
        "substance": "s",
        "lot_id": "l",
        "balance": 1,
        "threshold": 2,
        "registration_id": "r",
        "expected": 1,
        "counted": 1,
        "suspected_theft_or_loss": False,
        "kind": "k",
        "due_on": "d",
        "overdue": False,
        "staff_name": "n",
        "credential_type": "c",
        "identifier": "i",
        "expires_on": "d",
        "days_left": 1,
        "claim_id": "c",
        "appointment_type": "a",
        "starts_at": "t",
        "protocol_id": "p",
        "failed_conditions": [{"code": "c", "detail": "d"}],
        "stage": "due_soon",
        "session_on": "d",
        "payer_id": "p",
        "denial_codes": ["x"],
        "delivery_id": "d",
        "channel": "c",
        "recipient_kind": "k",
        "recipient_id": "r",
        "attempts": 1,
        "error": "e",
    }


@router.get(
    "/templates",
    tags=["templates"],
    response_model=list[TemplateOut],
    summary="This agency's templates over the defaults",
)
async def list_templates(
    caller: CurrentCaller, templates: Annotated[AgencyTemplates, repository(AgencyTemplates)]
) -> list[TemplateOut]:
    caller.require(ADMINS)
    merged = {key: value for key, value in DEFAULTS.items()}
    for doc in await templates.find(caller.tenant_id, {}):
        merged[(doc["template"], doc["channel"], doc["language"])] = MessageTemplate(
            subject=doc.get("subject", ""), text=doc["text"], html=doc.get("html")
        )
    return [
        TemplateOut(
            template=k[0], channel=k[1], language=k[2], subject=v.subject, text=v.text, html=v.html
        )
        for k, v in sorted(merged.items())
    ]


# -- the controllable clock (HALCYON_ENVIRONMENT=test only) ----------------------------------
class ClockIn(Strict):
    now: datetime

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("now must carry a time zone")
        return value


class ClockOut(BaseModel):
    now: datetime
    controllable: bool


@router.get("/admin/test-clock", tags=["testing"], response_model=ClockOut)
async def read_clock(caller: CurrentCaller, runtime: Runtime) -> ClockOut:
    clock = _notifier(runtime).clock
    if not clock.controllable:
        raise NotFound("the test clock exists only in the test environment")
    return ClockOut(now=clock.now(), controllable=True)


@router.put(
    "/admin/test-clock",
    tags=["testing"],
    response_model=ClockOut,
    summary="Set the service's 'now' (reminders, quiet hours, retries); test only",
)
async def set_clock(body: ClockIn, caller: CurrentCaller, runtime: Runtime) -> ClockOut:
    clock = _notifier(runtime).clock
    if not clock.controllable:
        raise NotFound("the test clock exists only in the test environment")
    caller.require(ADMINS)
    await clock.set_now(body.now)
    _worker(runtime).wake()
    return ClockOut(now=clock.now(), controllable=True)
