"""Preferences: my own alert preferences (staff), and a client's message preferences."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from halcyon.notifications.api.common import CLIENT_PREFERENCE_EDITORS, Strict
from halcyon.notifications.api.deps import (
    ClientPrefsRepo,
    ContactsRepo,
    Runtime,
    StaffPrefsRepo,
)
from halcyon.notifications.domain.templates import STAFF_TEMPLATES
from halcyon.notifications.store import ClientContacts
from halcyon.notifications.usecases import preferences
from halcyon.shared.access import Access, RecordAccess, home_site
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.mongo import Document
from pydantic import Field, field_validator

router = APIRouter(tags=["preferences"])
CLIENT_PREFERENCES = "notifications/client-preferences"


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


@router.get("/staff/me/preferences", response_model=StaffPreferencesIn)
async def my_preferences(caller: CurrentCaller, prefs: StaffPrefsRepo) -> StaffPreferencesIn:
    doc = await prefs.get(caller.tenant_id, caller.user_id) or {}
    return StaffPreferencesIn(
        preferred_channel=doc.get("preferred_channel", "email"), alerts=doc.get("alerts", {})
    )


@router.put(
    "/staff/me/preferences",
    response_model=StaffPreferencesIn,
    summary="Which alerts I get and how (urgent clinical alerts always reach the inbox)",
)
async def set_my_preferences(
    body: StaffPreferencesIn, caller: CurrentCaller, prefs: StaffPrefsRepo
) -> StaffPreferencesIn:
    await prefs.update(
        caller.tenant_id, {"_id": caller.user_id}, {"$set": body.model_dump()}, upsert=True
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


def _prefs_out(contact: Document, doc: Document | None) -> ClientPreferencesOut:
    doc = doc or {}
    return ClientPreferencesOut(
        client_id=contact["_id"],
        contact_known=True,
        has_email=bool(contact.get("email")),
        has_phone=bool(contact.get("phone")),
        channel=doc.get("channel"),
        quiet_hours=QuietHoursIn(**doc["quiet_hours"]) if doc.get("quiet_hours") else None,
        opted_out=bool(doc.get("opted_out", False)),
        share_appointment_details=bool(doc.get("share_appointment_details", False)),
        history=[{k: v for k, v in h.items() if k != "_id"} for h in doc.get("history", [])],
    )


async def _open_client(
    access: RecordAccess, contacts: ClientContacts, client_id: str, action: str
) -> Document:
    """The client as notifications knows them, if the caller may see their preferences;
    the access (or the attempt) is audited."""
    contact = await access.open_client(
        contacts,
        client_id,
        CLIENT_PREFERENCE_EDITORS,
        action=action,
        resource=CLIENT_PREFERENCES,
    )
    return contact


async def _audit(access: RecordAccess, contact: Document, action: str) -> None:
    await access.audit.record(
        access.caller,
        action=action,
        resource=CLIENT_PREFERENCES,
        resource_id=contact["_id"] if action == "update" else None,
        client_id=contact["_id"],
        site_id=home_site(contact),
        request=access.request,
    )


@router.get("/clients/{client_id}/preferences", response_model=ClientPreferencesOut)
async def client_preferences(
    client_id: str, access: Access, contacts: ContactsRepo, prefs: ClientPrefsRepo
) -> ClientPreferencesOut:
    contact = await _open_client(access, contacts, client_id, "read")
    await _audit(access, contact, "read")
    return _prefs_out(contact, await prefs.get(access.tenant_id, client_id))


@router.put(
    "/clients/{client_id}/preferences",
    response_model=ClientPreferencesOut,
    summary="Channel, quiet hours (client's time zone), opt-out, detail opt-in",
)
async def set_client_preferences(
    client_id: str,
    body: ClientPreferencesIn,
    access: Access,
    contacts: ContactsRepo,
    runtime: Runtime,
) -> ClientPreferencesOut:
    contact = await _open_client(access, contacts, client_id, "update")
    values = body.model_dump()
    doc = await preferences.set_client_preferences(runtime, access.caller, contact, values)
    await _audit(access, contact, "update")
    return _prefs_out(contact, doc)
