"""Who receives what: client channels and consent, staff alert routing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from halcyon.notifications.domain.quiet_hours import QuietHours, parse_clock
from halcyon.shared.grants import roles_at

# Alerts that always reach the inbox, whatever the staff member's preferences say: a
# vitals breach during a dosing session or a positive suicide-risk screen must not be
# silently muted.
URGENT_ALERTS = {"vitals_alert", "safety_alert"}
# Alert kind -> roles that receive it (besides named recipients).
ALERT_ROLES: dict[str, set[str]] = {
    "stock_low": {"compliance_officer"},
    "discrepancy_opened": {"compliance_officer"},
    "compliance_deadline": {"compliance_officer"},
    "claim_denied": {"biller"},
    "credential_expiring": {"agency_admin"},
    "delivery_dead": {"agency_admin"},
}


@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    display_name: str
    email: str | None
    roles: tuple[tuple[str, str], ...]  # (site, role)
    on_call_sites: tuple[str, ...] = ()
    active: bool = True

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> StaffMember:
        return cls(
            staff_id=doc["_id"],
            display_name=doc.get("display_name", ""),
            email=doc.get("email"),
            roles=tuple((r["site"], r["role"]) for r in doc.get("roles", [])),
            on_call_sites=tuple(doc.get("on_call_sites", [])),
            active=doc.get("active", True),
        )

    def has_role(self, roles: set[str], site_id: str | None) -> bool:
        return bool(roles_at(self.roles, site_id) & roles)


def on_call_for(staff: Iterable[StaffMember], site_id: str) -> list[StaffMember]:
    return [s for s in staff if s.active and site_id in s.on_call_sites]


def with_roles(
    staff: Iterable[StaffMember], roles: set[str], site_id: str | None = None
) -> list[StaffMember]:
    return [s for s in staff if s.active and s.has_role(roles, site_id)]


def urgent_alert_recipients(staff: list[StaffMember], site_id: str) -> list[StaffMember]:
    """The site's on-call clinicians; with nobody on call, the agency admins, so an alert
    is never addressed to no one."""
    return on_call_for(staff, site_id) or with_roles(staff, {"agency_admin"})


@dataclass(frozen=True)
class StaffAlertPreferences:
    preferred_channel: str = "email"  # email | none: the channel besides the inbox
    # Per alert kind: the channels wanted (subset of inbox, email); missing kind = default.
    alerts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> StaffAlertPreferences:
        if not doc:
            return cls()
        return cls(
            preferred_channel=doc.get("preferred_channel", "email"),
            alerts={k: tuple(v) for k, v in (doc.get("alerts") or {}).items()},
        )


def staff_channels(kind: str, member: StaffMember, prefs: StaffAlertPreferences) -> list[str]:
    if kind in prefs.alerts:
        wanted = list(prefs.alerts[kind])
    else:
        wanted = ["inbox"]
        if prefs.preferred_channel != "none":
            wanted.append(prefs.preferred_channel)
    if kind in URGENT_ALERTS and "inbox" not in wanted:
        wanted.insert(0, "inbox")
    if not member.email:
        wanted = [c for c in wanted if c != "email"]
    return list(dict.fromkeys(c for c in wanted if c in ("inbox", "email")))


@dataclass(frozen=True)
class ClientContact:
    client_id: str
    given_name: str
    home_site_id: str
    email: str | None = None
    phone: str | None = None
    timezone: str | None = None
    language: str | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ClientContact:
        return cls(
            client_id=doc["_id"],
            given_name=doc.get("given_name", ""),
            home_site_id=doc.get("home_site_id", ""),
            email=doc.get("email"),
            phone=doc.get("phone"),
            timezone=doc.get("timezone"),
            language=doc.get("preferred_language"),
        )

    def address(self, channel: str) -> str | None:
        return self.email if channel == "email" else self.phone if channel == "sms" else None


@dataclass(frozen=True)
class ClientPreferences:
    channel: str | None = None  # email | sms; None: whatever contact details exist
    quiet_hours: QuietHours | None = None
    opted_out: bool = False
    share_appointment_details: bool = False

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> ClientPreferences:
        if not doc:
            return cls()
        quiet = doc.get("quiet_hours")
        return cls(
            channel=doc.get("channel"),
            quiet_hours=(
                QuietHours(parse_clock(quiet["start"]), parse_clock(quiet["end"]))
                if quiet
                else None
            ),
            opted_out=bool(doc.get("opted_out", False)),
            share_appointment_details=bool(doc.get("share_appointment_details", False)),
        )


def client_channel(contact: ClientContact, prefs: ClientPreferences) -> str | None:
    """The one channel a client message goes by (None: no usable address)."""
    if prefs.channel and contact.address(prefs.channel):
        return prefs.channel
    for channel in ("email", "sms"):
        if contact.address(channel):
            return channel
    return None
