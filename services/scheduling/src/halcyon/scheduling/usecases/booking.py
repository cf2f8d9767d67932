"""Booking: gather facts from the read models, apply the domain rules, take the slot.

The order matters and is the point of this module:

1. everything is checked before anything is written (bad input → 422, nothing saved);
2. the slot is taken by inserting claim documents — one per resource and 5-minute
   bucket — whose ``_id`` is unique, so two requests cannot both hold a bucket
   (docs/adr/0400-scheduling-slot-claims.md);
3. only then the appointment (with its ``AppointmentChanged`` in the same document's
   outbox) is written; if that fails the claims are released.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from halcyon.scheduling.domain.appointments import (
    LIVE,
    exceeds_authorization,
    is_late_cancel,
    next_status,
)
from halcyon.scheduling.domain.booking import (
    BookingPlan,
    BookingRefused,
    BookingRequest,
)
from halcyon.scheduling.domain.calendar import (
    DateException,
    Interval,
    WeeklyWindow,
    local_iso,
    windows_on,
    within_windows,
    zone,
)
from halcyon.scheduling.domain.catalog import (
    DEFAULT_PROTOCOLS,
    DEFAULT_TYPES,
    AppointmentType,
    ProtocolRules,
)
from halcyon.scheduling.domain.gating import (
    ClientProtocolFacts,
    ClinicianFact,
    ConsentFact,
    FailedCondition,
    LicenceFact,
    ScreeningFact,
    check_clinicians,
    check_protocol,
    integration_proposals,
)
from halcyon.scheduling.settings import SchedulingRuntime
from halcyon.scheduling.store import (
    Appointments,
    AppointmentTypes,
    Authorizations,
    Availability,
    ClientDirectory,
    Consents,
    GroupSessions,
    Rooms,
    Screenings,
    Series,
    SiteCalendars,
    SlotClaims,
    StaffDirectory,
    TimeOff,
    Waitlist,
)
from halcyon.scheduling.usecases.claims import claim_ids, take, take_dosing_window
from halcyon.scheduling.usecases.groups import join_group, leave_group
from halcyon.scheduling.usecases.waitlist import offer_freed_slot
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.scheduling import AppointmentChanged, AppointmentClinician
from halcyon.shared.errors import Conflict
from halcyon.shared.mongo import Document
from uuid6 import uuid7


def appointment_event(
    doc: Document, change: str, previous_starts_at: datetime | None = None
) -> AppointmentChanged:
    return AppointmentChanged(
        appointment_id=doc["_id"],
        change=change,
        status=doc["status"],
        client_id=doc["client_id"],
        site_id=doc["site_id"],
        site_timezone=doc["site_timezone"],
        appointment_type=doc["appointment_type"],
        protocol_id=doc.get("protocol_id"),
        starts_at=doc["starts_at"],
        ends_at=doc["ends_at"],
        clinicians=[AppointmentClinician(**c) for c in doc["clinicians"]],
        room_id=doc.get("room_id"),
        telehealth=doc.get("telehealth", False),
        cancel_reason=doc.get("cancel_reason"),
        late_cancel=doc.get("late_cancel", False),
        series_id=doc.get("series_id"),
        version=doc["version"],
        protocol_step=doc.get("protocol_step"),
        video_link=doc.get("video_link"),
        previous_starts_at=previous_starts_at,
        present_staff_ids=doc.get("present_staff_ids"),
    )


class Scheduler:
    """The booking use cases over the service's repositories (one per request; cheap)."""

    def __init__(self, runtime: SchedulingRuntime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.clients = runtime.repo(ClientDirectory)
        self.sites = runtime.repo(SiteCalendars)
        self.staff = runtime.repo(StaffDirectory)
        self.consents = runtime.repo(Consents)
        self.screenings = runtime.repo(Screenings)
        self.authorizations = runtime.repo(Authorizations)
        self.rooms = runtime.repo(Rooms)
        self.types = runtime.repo(AppointmentTypes)
        self.availability = runtime.repo(Availability)
        self.time_off = runtime.repo(TimeOff)
        self.appointments = runtime.repo(Appointments)
        self.claims = runtime.repo(SlotClaims)
        self.waitlist = runtime.repo(Waitlist)
        self.series_store = runtime.repo(Series)
        self.group_sessions = runtime.repo(GroupSessions)

    # -- catalog -------------------------------------------------------------------
    async def appointment_type(self, tenant_id: str, code: str) -> AppointmentType | None:
        doc = await self.types.get(tenant_id, f"{tenant_id}:{code}")
        if doc is not None:
            return AppointmentType.model_validate(doc["definition"])
        return DEFAULT_TYPES.get(code)

    async def all_types(self, tenant_id: str) -> list[AppointmentType]:
        merged = dict(DEFAULT_TYPES)
        for doc in await self.types.find(tenant_id, {}, limit=500):
            kind = AppointmentType.model_validate(doc["definition"])
            merged[kind.code] = kind
        return sorted(merged.values(), key=lambda t: t.code)

    @staticmethod
    def protocol(protocol_id: str | None) -> ProtocolRules | None:
        return DEFAULT_PROTOCOLS.get(protocol_id) if protocol_id else None

    async def site(self, tenant_id: str, site_id: str) -> Document | None:
        return await self.sites.get(tenant_id, site_id)

    # -- checking ------------------------------------------------------------------
    async def plan(
        self, tenant_id: str, request: BookingRequest, *, rescheduling: str | None = None
    ) -> BookingPlan:
        """Check every rule without writing; raise ``BookingRefused`` listing each failure."""
        kind = await self.appointment_type(tenant_id, request.appointment_type)
        if kind is None:
            raise BookingRefused(
                f"there is no appointment type {request.appointment_type!r}",
                failed_conditions=[
                    FailedCondition("appointment_type", "unknown appointment type").as_dict()
                ],
            )
        failed: list[FailedCondition] = []
        site = await self.site(tenant_id, request.site_id)
        if site is None or not site.get("timezone"):
            raise BookingRefused(
                f"site {request.site_id} is not known to scheduling (yet)",
                failed_conditions=[
                    FailedCondition(
                        "site_unknown", f"site {request.site_id} is not known"
                    ).as_dict()
                ],
            )
        tz = zone(site["timezone"])
        start = request.starts_at.astimezone(UTC)
        interval = Interval(start, start + timedelta(minutes=kind.duration_minutes))
        if not site.get("active", True):
            failed.append(FailedCondition("site_inactive", f"site {request.site_id} is closed"))
        hours = [WeeklyWindow.model_validate(w) for w in site.get("opening_hours", [])]
        if hours and not within_windows(
            interval, tz, windows_on(interval.start.astimezone(tz).date(), hours)
        ):
            failed.append(
                FailedCondition(
                    "site_hours",
                    f"{local_iso(interval.start, tz)} to {local_iso(interval.end, tz)} is outside "
                    "the site's opening hours",
                )
            )
        client = await self.clients.get(tenant_id, request.client_id)
        if client is None:
            failed.append(
                FailedCondition("client_unknown", f"client {request.client_id} is not known")
            )
        failed += await self._check_room(tenant_id, kind, request)
        failed += await self._check_clinicians(tenant_id, kind, request, interval, tz)
        protocol = self.protocol(kind.protocol_id)
        if kind.protocol_id and protocol is None:
            failed.append(
                FailedCondition("protocol_unknown", f"protocol {kind.protocol_id} is not defined")
            )
        if protocol is not None:
            facts = await self.client_protocol_facts(
                tenant_id, request.client_id, protocol, exclude=rescheduling
            )
            failed += check_protocol(kind, protocol, facts, interval.start)
        if failed:
            raise BookingRefused(
                "the booking was refused: " + "; ".join(f.detail for f in failed),
                failed_conditions=[f.as_dict() for f in failed],
            )
        plan = BookingPlan(request, kind, protocol, site["timezone"], interval)
        plan.warnings = await self._authorization_warnings(
            tenant_id, request.client_id, kind, interval.start.date(), exclude=rescheduling
        )
        return plan

    async def _check_room(
        self, tenant_id: str, kind: AppointmentType, request: BookingRequest
    ) -> list[FailedCondition]:
        if kind.telehealth:
            if request.room_id:
                return [FailedCondition("room", f"{kind.code} is by video and takes no room")]
            return []
        if not request.room_id:
            return [FailedCondition("room", f"{kind.code} needs a room")]
        room = await self.rooms.get(tenant_id, request.room_id)
        if room is None or room.get("site_id") != request.site_id:
            return [
                FailedCondition("room", f"room {request.room_id} is not at site {request.site_id}")
            ]
        if not room.get("active", True):
            return [FailedCondition("room", f"room {request.room_id} is out of service")]
        if kind.room_attribute and kind.room_attribute not in room.get("attributes", []):
            return [
                FailedCondition(
                    "room_attribute",
                    f"{kind.code} needs a room with {kind.room_attribute}; "
                    f"{room.get('name', request.room_id)} has none",
                )
            ]
        return []

    async def clinician_facts(
        self, tenant_id: str, site_id: str, staff_ids: Sequence[str]
    ) -> dict[str, ClinicianFact]:
        docs = await self.staff.find(tenant_id, {"_id": {"$in": list(staff_ids)}})
        facts = {}
        for doc in docs:
            facts[doc["_id"]] = ClinicianFact(
                staff_id=doc["_id"],
                active=doc.get("active", True),
                roles_at_site=frozenset(
                    r["role"] for r in doc.get("roles", []) if r.get("site") in (site_id, "*")
                ),
                licences=tuple(
                    LicenceFact(type=lic["type"], expires_on=date.fromisoformat(lic["expires_on"]))
                    for lic in doc.get("licences", [])
                ),
            )
        return facts

    async def _check_clinicians(
        self,
        tenant_id: str,
        kind: AppointmentType,
        request: BookingRequest,
        interval: Interval,
        tz: ZoneInfo,
    ) -> list[FailedCondition]:
        ids = [s for s, _ in request.clinicians]
        facts = await self.clinician_facts(tenant_id, request.site_id, ids)
        local_day = interval.start.astimezone(tz).date()
        failed = check_clinicians(kind, request.clinicians, facts, request.site_id, local_day)
        for staff_id in ids:
            if not await self._available(tenant_id, staff_id, request.site_id, interval, tz):
                failed.append(
                    FailedCondition(
                        "clinician_unavailable",
                        f"staff member {staff_id} is not available "
                        f"{local_iso(interval.start, tz)} to {local_iso(interval.end, tz)}",
                    )
                )
        return failed

    async def _available(
        self, tenant_id: str, staff_id: str, site_id: str, interval: Interval, tz: ZoneInfo
    ) -> bool:
        off = await self.time_off.find(
            tenant_id,
            {
                "staff_id": staff_id,
                "starts_at": {"$lt": interval.end},
                "ends_at": {"$gt": interval.start},
            },
            limit=1,
        )
        if off:
            return False
        template = await self.availability.get(tenant_id, f"{staff_id}:{site_id}")
        if template is None:
            return True  # no template recorded: availability does not restrict them
        weekly = [WeeklyWindow.model_validate(w) for w in template.get("weekly", [])]
        exceptions = [DateException.model_validate(e) for e in template.get("exceptions", [])]
        day = interval.start.astimezone(tz).date()
        return within_windows(interval, tz, windows_on(day, weekly, exceptions))

    async def client_protocol_facts(
        self, tenant_id: str, client_id: str, protocol: ProtocolRules, *, exclude: str | None
    ) -> ClientProtocolFacts:
        consents = await self.consents.find(tenant_id, {"client_id": client_id}, limit=200)
        screenings = await self.screenings.find(tenant_id, {"client_id": client_id}, limit=200)
        mine = await self.appointments.find(
            tenant_id,
            {"client_id": client_id, "protocol_id": protocol.protocol_id},
            limit=500,
        )
        return ClientProtocolFacts(
            consents=[
                ConsentFact(c["kind"], c.get("protocol_id"), c["status"], c.get("expires_at"))
                for c in consents
            ],
            screenings=[
                ScreeningFact(s["protocol_id"], s["eligible"], s["signed_at"]) for s in screenings
            ],
            completed_preparations=[
                a["starts_at"]
                for a in mine
                if a["appointment_type"] == protocol.preparation_type and a["status"] == "completed"
            ],
            other_dosing_sessions=[
                a["starts_at"]
                for a in mine
                if a["appointment_type"] == protocol.dosing_type
                and a["_id"] != exclude
                and a["status"] in LIVE | {"completed"}
            ],
        )

    async def _authorization_warnings(
        self,
        tenant_id: str,
        client_id: str,
        kind: AppointmentType,
        on: date,
        *,
        exclude: str | None,
    ) -> list[dict[str, Any]]:
        if not kind.cpt:
            return []
        day = on.isoformat()
        current = [
            a
            for a in await self.authorizations.find(
                tenant_id, {"client_id": client_id, "cpt": kind.cpt}, limit=50
            )
            if a["starts_on"] <= day <= a["ends_on"]
        ]
        if not current:
            return []
        scheduled = sum(
            a.get("units", 1)
            for a in await self.appointments.find(
                tenant_id,
                {"client_id": client_id, "cpt": kind.cpt, "status": {"$in": sorted(LIVE)}},
                limit=1000,
            )
            if a["_id"] != exclude
        )
        authorized = sum(a["units_authorized"] for a in current)
        used = sum(a["units_used"] for a in current)
        if not exceeds_authorization(authorized, used, scheduled, kind.units):
            return []
        return [
            {
                "code": "authorization_exceeded",
                "detail": f"booking needs {kind.units} unit(s) of {kind.cpt}; {authorized} "
                f"authorized, {used} used and {scheduled} already scheduled",
                "cpt": kind.cpt,
                "units_authorized": authorized,
                "units_used": used,
                "units_scheduled": scheduled,
            }
        ]

    # -- taking the slot -----------------------------------------------------------
    async def book(
        self, caller: Caller, plan: BookingPlan, *, series_id: str | None = None
    ) -> Document:
        tenant = caller.tenant_id
        appointment_id = str(uuid7())
        group_session: str | None = None
        if plan.kind.max_clients > 1:
            group_session = await join_group(self, tenant, plan)
            try:
                await take(
                    self,
                    tenant,
                    appointment_id,
                    plan,
                    resources=[f"client:{plan.request.client_id}"],
                )
            except BaseException:
                await leave_group(self, tenant, group_session)
                raise
        else:
            await take(self, tenant, appointment_id, plan)
        try:
            await take_dosing_window(self, tenant, appointment_id, plan)
        except BaseException:
            await self.claims.release(tenant, appointment_id)
            raise
        request, kind = plan.request, plan.kind
        now = datetime.now(UTC)
        doc: Document = {
            "_id": appointment_id,
            "group_session_id": group_session,
            "client_id": request.client_id,
            "site_id": request.site_id,
            "site_timezone": plan.timezone,
            "appointment_type": kind.code,
            "protocol_id": kind.protocol_id,
            "protocol_step": kind.protocol_step,
            "cpt": kind.cpt,
            "units": kind.units,
            "starts_at": plan.interval.start,
            "ends_at": plan.interval.end,
            "clinicians": [{"staff_id": s, "role": r} for s, r in request.clinicians],
            "clinician_ids": [s for s, _ in request.clinicians],
            "room_id": request.room_id,
            "telehealth": kind.telehealth,
            "video_link": (
                f"{self.settings.video_base_url.rstrip('/')}/{appointment_id}"
                if kind.telehealth
                else None
            ),
            "status": "booked",
            "cancel_reason": None,
            "late_cancel": False,
            "series_id": series_id,
            "version": 1,
            "warnings": plan.warnings,
            "booked_by": caller.user_id,
            "created_at": now,
            "history": [
                {
                    "change": "booked",
                    "status": "booked",
                    "at": now,
                    "by": caller.user_id,
                    "starts_at": plan.interval.start,
                }
            ],
        }
        event = appointment_event(doc, "booked")
        try:
            return await self.appointments.insert(
                tenant, doc, [self.runtime.event(event, tenant_id=tenant)]
            )
        except BaseException:
            await self.claims.release(tenant, appointment_id)
            if group_session:
                await leave_group(self, tenant, group_session)
            raise

    def proposals(self, plan_or_doc: Document) -> list[datetime]:
        protocol = self.protocol(plan_or_doc.get("protocol_id"))
        if protocol is None or plan_or_doc.get("protocol_step") != "dosing":
            return []
        return integration_proposals(protocol, plan_or_doc["starts_at"])

    # -- changing ------------------------------------------------------------------
    async def change_status(
        self,
        caller: Caller,
        doc: Document,
        change: str,
        reason: str | None = None,
        extra: Document | None = None,
    ) -> Document:
        tenant = caller.tenant_id
        target = next_status(doc["status"], change)
        now = datetime.now(UTC)
        kind = await self.appointment_type(tenant, doc["appointment_type"])
        changes: Document = {"status": target, "updated_at": now, **(extra or {})}
        if change == "cancelled":
            policy = kind.late_cancel_hours if kind else self.settings.late_cancel_hours
            changes["cancel_reason"] = reason
            changes["late_cancel"] = is_late_cancel(doc["starts_at"], now, policy)
        entry = {"change": change, "status": target, "at": now, "by": caller.user_id}
        if reason:
            entry["reason"] = reason
        if change == "cancelled":
            entry["late_cancel"] = changes["late_cancel"]
        after = {**doc, **changes, "version": doc["version"] + 1}
        updated = await self.appointments.update(
            tenant,
            {"_id": doc["_id"], "version": doc["version"]},
            {
                "$set": changes,
                "$inc": {"version": 1},
                "$push": {"history": entry},
            },
            [self.runtime.event(appointment_event(after, change), tenant_id=tenant)],
        )
        if updated is None:
            raise Conflict("the appointment changed meanwhile; reload it and try again")
        if change == "cancelled":
            # The time is free again; a crash before this leaves claims the next booking
            # recognises as orphaned (their appointment is cancelled) and reclaims.
            await self.claims.release(tenant, doc["_id"])
            if doc.get("group_session_id"):
                await leave_group(self, tenant, doc["group_session_id"])
            await offer_freed_slot(self, tenant, updated)
        return updated

    async def move(
        self,
        caller: Caller,
        doc: Document,
        starts_at: datetime,
        clinicians: tuple[tuple[str, str], ...] | None,
        room_id: str | None,
    ) -> Document:
        """Reschedule (keeping the clinicians unless others are named): every rule is
        checked again and the new time is claimed before the old one is released."""
        if clinicians is None:
            clinicians = tuple((c["staff_id"], c["role"]) for c in doc["clinicians"])
        request = BookingRequest(
            client_id=doc["client_id"],
            site_id=doc["site_id"],
            appointment_type=doc["appointment_type"],
            starts_at=starts_at,
            clinicians=clinicians,
            room_id=room_id,
        )
        plan = await self.plan(caller.tenant_id, request, rescheduling=doc["_id"])
        return await self.reschedule(caller, doc, plan)

    async def reschedule(self, caller: Caller, doc: Document, plan: BookingPlan) -> Document:
        tenant = caller.tenant_id
        next_status(doc["status"], "rescheduled")
        if doc.get("group_session_id"):
            raise Conflict("a seat in a group session is not moved: cancel it and book another")
        # Claims of another reschedule of this appointment still in flight are not ours
        # to keep: they count once their attempt is recorded on the appointment.
        attempt = uuid7().hex
        held = frozenset(
            await self.claims.held_by(tenant, doc["_id"], doc.get("claim_attempts", []))
        )
        inserted = await take(self, tenant, doc["_id"], plan, already_held=held, attempt=attempt)
        try:
            inserted |= await take_dosing_window(self, tenant, doc["_id"], plan, held, attempt)
        except BaseException:
            await self.claims.release(tenant, doc["_id"], only=sorted(inserted))
            raise
        wanted = inserted | claim_ids(self, tenant, plan)
        now = datetime.now(UTC)
        request = plan.request
        changes: Document = {
            "starts_at": plan.interval.start,
            "ends_at": plan.interval.end,
            "clinicians": [{"staff_id": s, "role": r} for s, r in request.clinicians],
            "clinician_ids": [s for s, _ in request.clinicians],
            "room_id": request.room_id,
            "warnings": plan.warnings,
            "updated_at": now,
        }
        entry = {
            "change": "rescheduled",
            "status": "booked",
            "at": now,
            "by": caller.user_id,
            "from_starts_at": doc["starts_at"],
            "starts_at": plan.interval.start,
        }
        after = {**doc, **changes, "version": doc["version"] + 1}
        updated = await self.appointments.update(
            tenant,
            {"_id": doc["_id"], "version": doc["version"], "status": "booked"},
            {
                "$set": changes,
                "$inc": {"version": 1},
                "$push": {"history": entry, "claim_attempts": attempt},
            },
            [
                self.runtime.event(
                    appointment_event(after, "rescheduled", doc["starts_at"]), tenant_id=tenant
                )
            ],
        )
        if updated is None:
            await self.claims.release(tenant, doc["_id"], only=sorted(inserted))
            raise Conflict("the appointment changed meanwhile; reload it and try again")
        await self.claims.release(tenant, doc["_id"], only=sorted(held - wanted))
        return updated
