"""Notifications repositories (one collection each, every document tenant-scoped)."""

from __future__ import annotations

from halcyon.shared.mongo import TenantRepository
from pymongo import ASCENDING, DESCENDING, IndexModel


class ClientContacts(TenantRepository):
    """Read model of clients' contact details, fed by clinical's ClientRegistered."""

    collection_name = "clients"
    indexes = (IndexModel([("phone", ASCENDING)], sparse=True),)


class ClientPreferencesStore(TenantRepository):
    """Per client: channel, quiet hours, opt-out, detail opt-in, and their history."""

    collection_name = "client_preferences"


class StaffDirectory(TenantRepository):
    """Read model of staff (roles per site, email, on-call sites), fed by identity."""

    collection_name = "staff"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("on_call_sites", ASCENDING)]),)


class SiteDirectory(TenantRepository):
    """Read model of the agency's sites (name, time zone), fed by identity's SiteChanged,
    so staff messages name a site the way people do, not by its id."""

    collection_name = "sites"


class StaffPreferencesStore(TenantRepository):
    collection_name = "staff_preferences"


class Reminders(TenantRepository):
    """Appointment reminders with their due times; the scheduler sends the due ones."""

    collection_name = "reminders"
    indexes = (
        IndexModel([("status", ASCENDING), ("due_at", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("appointment_id", ASCENDING)]),
    )


class Deliveries(TenantRepository):
    """One message to one recipient on one channel. ``_id`` is deterministic (event/
    reminder + rule + recipient + channel) and unique, so nothing is queued twice."""

    collection_name = "deliveries"
    indexes = (
        IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("recipient_id", ASCENDING)]),
    )


class DeadDeliveries(TenantRepository):
    collection_name = "dead_deliveries"


class Inbox(TenantRepository):
    """Staff in-app messages; each belongs to exactly one staff member."""

    collection_name = "inbox"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("staff_id", ASCENDING), ("created_at", DESCENDING)]),
        # One inbox item per delivery: a redelivered alert is not filed twice.
        IndexModel([("tenant_id", ASCENDING), ("delivery_id", ASCENDING)], unique=True),
    )


class ParkedClientMessages(TenantRepository):
    """Client messages waiting for the client's contact details (registration not seen yet)."""

    collection_name = "parked_client_messages"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class AgencyTemplates(TenantRepository):
    collection_name = "templates"


class Sessions(TenantRepository):
    """Read model of appointments from scheduling: who is in the room with a client now."""

    collection_name = "sessions"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class AlertEscalations(TenantRepository):
    """An urgent alert sent to a session's team, escalated to on-call staff when nobody
    acknowledges it in time; ``_id`` is the alert id."""

    collection_name = "alert_escalations"
    indexes = (IndexModel([("status", ASCENDING), ("due_at", ASCENDING)]),)


REPOSITORIES: list[type[TenantRepository]] = [
    ClientContacts,
    ClientPreferencesStore,
    StaffDirectory,
    SiteDirectory,
    StaffPreferencesStore,
    Reminders,
    Deliveries,
    DeadDeliveries,
    Inbox,
    ParkedClientMessages,
    AgencyTemplates,
    Sessions,
    AlertEscalations,
]
