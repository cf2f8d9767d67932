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

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from halcyon.scheduling.domain.appointments import (
    LIVE,
    exceeds_authorization,
    is_late_cancel,
    next_status,
)
from halcyon.scheduling.domain.calendar import (
    DateException,
    Interval,
    WeeklyWindow,
    buckets,
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
from halcyon.scheduling.settings import SchedulingSettings
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
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.scheduling import (
    AppointmentChanged,
    AppointmentClinician,
    WaitlistOfferMade,
)
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.errors import Conflict, NotFound, RuleViolation
from halcyon.shared.mongo import Document, DuplicateRecord, OutboxEvent
from halcyon.shared.service import ServiceRuntime
from uuid6 import uuid7

log = logging.getLogger("halcyon.scheduling.usecases.booking")
SOURCE = "/halcyon/scheduling"
# A claim whose appointment never appeared is an orphan once it is this old
# (the booking that took it crashed between the two writes).
ORPHAN_AFTER = timedelta(minutes=2)
# Claims of a group session (its clinicians and room) are owned by the session.
GROUP_PREFIX = "group|"


class BookingRefused(RuleViolation):
    slug, title = "booking-refused", "The booking breaks a scheduling rule"


class SlotTaken(Conflict):
    slug, title = "slot-taken", "Someone or something needed is already booked then"


@dataclass(frozen=True)
class BookingRequest:
    client_id: str
    site_id: str
    appointment_type: str
    starts_at: datetime
    clinicians: tuple[tuple[str, str], ...]  # (staff_id, role)
    room_id: str | None = None


@dataclass
class BookingPlan:
    request: BookingRequest
    kind: AppointmentType
    protocol: ProtocolRules | None
    timezone: str
    interval: Interval
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def resources(self) -> list[str]:
        keys = [f"client:{self.request.client_id}"]
        keys += [f"clinician:{staff_id}" for staff_id, _ in self.request.clinicians]
        if self.request.room_id:
            keys.append(f"room:{self.request.room_id}")
        return keys


def local_iso(value: datetime, tz: ZoneInfo) -> str:
    return value.astimezone(tz).isoformat()


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


def outbox(event: AppointmentChanged | WaitlistOfferMade, tenant_id: str) -> OutboxEvent:
    envelope = EventEnvelope.wrap(event, source=SOURCE, tenant_id=tenant_id)
    return OutboxEvent(envelope, event.topic)


class Scheduler:
    """The booking use cases over the service's repositories (one per request; cheap)."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.settings: SchedulingSettings = runtime.settings  # type: ignore[assignment]
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
    async def _take(
        self,
        tenant_id: str,
        owner: str,
        plan: BookingPlan,
        *,
        already_held: frozenset[str] = frozenset(),
        resources: Sequence[str] | None = None,
        slot_buckets: Sequence[datetime] | None = None,
    ) -> set[str]:
        """Claim every (resource, bucket); returns the claim ids this call inserted."""
        slot_buckets = buckets(plan.interval) if slot_buckets is None else slot_buckets
        wanted_resources = list(plan.resources if resources is None else resources)
        for attempt in range(2):
            held = await self.claims.claim(
                tenant_id, owner, wanted_resources, slot_buckets, skip_ids=already_held
            )
            if held is None:
                wanted = {
                    self.claims.claim_id(tenant_id, r, b)
                    for r in wanted_resources
                    for b in slot_buckets
                }
                return wanted - already_held
            if attempt == 0 and await self._orphaned(tenant_id, held):
                log.warning("releasing orphaned claim %s", held["_id"])
                await self.claims.release_stale(tenant_id, held["_id"], held["appointment_id"])
                continue
            kind, _, resource_id = str(held["resource"]).partition(":")
            tz = zone(plan.timezone)
            raise SlotTaken(
                f"the {kind} {resource_id} is already booked around "
                f"{local_iso(held['bucket'], tz)}",
                resource_kind=kind,
                resource_id=resource_id,
            )
        raise AssertionError("unreachable")

    async def _orphaned(self, tenant_id: str, claim: Document) -> bool:
        """A claim nobody stands behind: its booking crashed, or a release was lost."""
        claimed_at: datetime = claim.get("claimed_at") or datetime.now(UTC)
        old_enough = datetime.now(UTC) - claimed_at > ORPHAN_AFTER
        if str(claim["appointment_id"]).startswith(GROUP_PREFIX):
            session = await self.group_sessions.get(tenant_id, claim["appointment_id"])
            return session is None and old_enough
        owner = await self.appointments.get(tenant_id, claim["appointment_id"])
        if owner is None:
            return old_enough
        if owner["status"] == "cancelled":
            return True
        if str(claim["resource"]).startswith("dosing:"):
            # A dosing session's interval window: held while the session counts for the
            # rule (live or completed), like the gating check itself.
            return owner["status"] not in LIVE | {"completed"}
        bucket = Interval(claim["bucket"], claim["bucket"] + timedelta(minutes=5))
        # Left behind by a reschedule that moved the appointment elsewhere.
        return old_enough and not bucket.overlaps(Interval(owner["starts_at"], owner["ends_at"]))

    async def book(
        self, caller: Caller, plan: BookingPlan, *, series_id: str | None = None
    ) -> Document:
        tenant = caller.tenant_id
        appointment_id = str(uuid7())
        group_session: str | None = None
        if plan.kind.max_clients > 1:
            group_session = await self._join_group(tenant, plan)
            try:
                await self._take(
                    tenant, appointment_id, plan, resources=[f"client:{plan.request.client_id}"]
                )
            except BaseException:
                await self._leave_group(tenant, group_session)
                raise
        else:
            await self._take(tenant, appointment_id, plan)
        try:
            await self._take_dosing_window(tenant, appointment_id, plan)
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
            return await self.appointments.insert(tenant, doc, [outbox(event, tenant)])
        except BaseException:
            await self.claims.release(tenant, appointment_id)
            if group_session:
                await self._leave_group(tenant, group_session)
            raise

    # -- the minimum interval between dosing sessions ---------------------------------
    def dosing_window(self, plan: BookingPlan) -> tuple[str, list[datetime]]:
        """The claim that makes the dosing interval race-free: each dosing session holds
        the N local days starting on its own day, so two sessions of one client fewer than
        N days apart need a common day and only one insert can win it."""
        if plan.protocol is None or plan.kind.protocol_step != "dosing":
            return "", []
        days = plan.protocol.min_days_between_dosing
        first = plan.interval.start.astimezone(zone(plan.timezone)).date()
        resource = f"dosing:{plan.request.client_id}:{plan.protocol.protocol_id}"
        return resource, [
            datetime.combine(first + timedelta(days=k), time(0), tzinfo=UTC) for k in range(days)
        ]

    async def _take_dosing_window(
        self,
        tenant_id: str,
        appointment_id: str,
        plan: BookingPlan,
        already_held: frozenset[str] = frozenset(),
    ) -> set[str]:
        resource, days = self.dosing_window(plan)
        if not days:
            return set()
        try:
            return await self._take(
                tenant_id,
                appointment_id,
                plan,
                already_held=already_held,
                resources=[resource],
                slot_buckets=days,
            )
        except SlotTaken:
            assert plan.protocol is not None
            condition = FailedCondition(
                "dosing_interval",
                f"dosing sessions must be at least {plan.protocol.min_days_between_dosing} "
                "days apart; another was booked for this client meanwhile",
            )
            raise BookingRefused(
                condition.detail, failed_conditions=[condition.as_dict()]
            ) from None

    # -- group sessions --------------------------------------------------------------
    def _group_session_id(self, tenant_id: str, plan: BookingPlan) -> str:
        # One group session per (type, start, room): clients booking the same ones join it.
        place = plan.request.room_id or ",".join(sorted(s for s, _ in plan.request.clinicians))
        start = plan.interval.start.strftime("%Y%m%dT%H%M")
        return f"{GROUP_PREFIX}{tenant_id}|{plan.kind.code}|{start}|{place}"

    async def _join_group(self, tenant_id: str, plan: BookingPlan) -> str:
        """Take a seat in the group session, creating it (and claiming its clinicians and
        room) for the first client. Seats are one conditional ``$inc``: never overfilled."""
        session_id = self._group_session_id(tenant_id, plan)
        clinician_ids = sorted(s for s, _ in plan.request.clinicians)
        seats = plan.kind.max_clients
        if plan.request.room_id:
            room = await self.rooms.get(tenant_id, plan.request.room_id)
            seats = min(seats, int((room or {}).get("capacity", seats)))
        for _ in range(2):
            joined = await self.group_sessions.update(
                tenant_id,
                {
                    "_id": session_id,
                    "state": "ready",
                    "clinician_ids": clinician_ids,
                    "seats_taken": {"$lt": seats},
                },
                {"$inc": {"seats_taken": 1}},
            )
            if joined is not None:
                return session_id
            existing = await self.group_sessions.get(tenant_id, session_id)
            if existing is not None:
                if existing.get("clinician_ids") != clinician_ids:
                    raise SlotTaken(
                        "a group session with other clinicians is booked in that room then",
                        resource_kind="group_session",
                        resource_id=session_id,
                    )
                if existing.get("seats_taken", 0) >= seats:
                    raise SlotTaken(
                        f"the group session is full ({seats} clients)",
                        resource_kind="group_session",
                        resource_id=session_id,
                    )
                raise SlotTaken(
                    "the group session is being set up; try again",
                    resource_kind="group_session",
                    resource_id=session_id,
                )
            try:
                await self.group_sessions.insert(
                    tenant_id,
                    {
                        "_id": session_id,
                        "state": "claiming",
                        "seats_taken": 1,
                        "clinician_ids": clinician_ids,
                        "room_id": plan.request.room_id,
                        "starts_at": plan.interval.start,
                        "ends_at": plan.interval.end,
                    },
                )
            except DuplicateRecord:
                continue  # someone created it a moment ago: join theirs
            resources = [f"clinician:{c}" for c in clinician_ids]
            if plan.request.room_id:
                resources.append(f"room:{plan.request.room_id}")
            try:
                await self._take(tenant_id, session_id, plan, resources=resources)
            except BaseException:
                await self.group_sessions.delete(tenant_id, {"_id": session_id})
                raise
            await self.group_sessions.update(
                tenant_id, {"_id": session_id}, {"$set": {"state": "ready"}}
            )
            return session_id
        raise SlotTaken(
            "the group session changed meanwhile; try again",
            resource_kind="group_session",
            resource_id=session_id,
        )

    async def _leave_group(self, tenant_id: str, session_id: str) -> None:
        """Give the seat back; the last client out frees the clinicians and the room."""
        left = await self.group_sessions.update(
            tenant_id,
            {"_id": session_id, "seats_taken": {"$gte": 1}},
            {"$inc": {"seats_taken": -1}},
        )
        if left is None or left["seats_taken"] > 0:
            return
        closing = await self.group_sessions.update(
            tenant_id,
            {"_id": session_id, "seats_taken": 0, "state": "ready"},
            {"$set": {"state": "closing"}},
        )
        if closing is not None:
            await self.claims.release(tenant_id, session_id)
            await self.group_sessions.delete(tenant_id, {"_id": session_id, "state": "closing"})

    def proposals(self, plan_or_doc: Document) -> list[datetime]:
        protocol = self.protocol(plan_or_doc.get("protocol_id"))
        if protocol is None or plan_or_doc.get("protocol_step") != "dosing":
            return []
        return integration_proposals(protocol, plan_or_doc["starts_at"])

    # -- changing ------------------------------------------------------------------
    async def load(self, tenant_id: str, appointment_id: str) -> Document:
        doc = await self.appointments.get(tenant_id, appointment_id)
        if doc is None:
            raise NotFound(f"no appointment {appointment_id} in your agency")
        return doc

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
            {"$set": changes, "$inc": {"version": 1}, "$push": {"history": entry}},
            [outbox(appointment_event(after, change), tenant)],
        )
        if updated is None:
            raise Conflict("the appointment changed meanwhile; reload it and try again")
        if change == "cancelled":
            # The time is free again; a crash before this leaves claims the next booking
            # recognises as orphaned (their appointment is cancelled) and reclaims.
            await self.claims.release(tenant, doc["_id"])
            if doc.get("group_session_id"):
                await self._leave_group(tenant, doc["group_session_id"])
            await self.offer_freed_slot(tenant, updated)
        return updated

    async def reschedule(self, caller: Caller, doc: Document, plan: BookingPlan) -> Document:
        tenant = caller.tenant_id
        next_status(doc["status"], "rescheduled")
        if doc.get("group_session_id"):
            raise Conflict("a seat in a group session is not moved: cancel it and book another")
        held = frozenset(await self.claims.held_by(tenant, doc["_id"]))
        inserted = await self._take(tenant, doc["_id"], plan, already_held=held)
        try:
            inserted |= await self._take_dosing_window(tenant, doc["_id"], plan, held)
        except BaseException:
            await self.claims.release(tenant, doc["_id"], only=sorted(inserted))
            raise
        window_resource, window_days = self.dosing_window(plan)
        wanted = inserted | {
            self.claims.claim_id(tenant, r, b)
            for r in plan.resources
            for b in buckets(plan.interval)
        }
        wanted |= {self.claims.claim_id(tenant, window_resource, d) for d in window_days}
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
            {"$set": changes, "$inc": {"version": 1}, "$push": {"history": entry}},
            [outbox(appointment_event(after, "rescheduled", doc["starts_at"]), tenant)],
        )
        if updated is None:
            await self.claims.release(tenant, doc["_id"], only=sorted(inserted))
            raise Conflict("the appointment changed meanwhile; reload it and try again")
        await self.claims.release(tenant, doc["_id"], only=sorted(held - wanted))
        return updated

    # -- waitlist ------------------------------------------------------------------
    async def offer_freed_slot(self, tenant_id: str, freed: Document) -> Document | None:
        """Offer a freed slot to the first suitable client waiting for it (oldest first)."""
        now = datetime.now(UTC)
        if freed["starts_at"] <= now:
            return None
        waiting = await self.waitlist.find(
            tenant_id,
            {
                "site_id": freed["site_id"],
                "appointment_type": freed["appointment_type"],
                "status": "waiting",
            },
            sort=[("created_at", 1), ("_id", 1)],
            limit=50,
        )
        day = freed["starts_at"].astimezone(zone(freed["site_timezone"])).date().isoformat()
        for entry in waiting:
            if entry["client_id"] == freed["client_id"]:
                continue
            if entry.get("clinician_id") and entry["clinician_id"] not in freed["clinician_ids"]:
                continue
            if entry.get("not_before") and day < entry["not_before"]:
                continue
            if entry.get("not_after") and day > entry["not_after"]:
                continue
            offer_id = str(uuid7())
            expires_at = now + timedelta(seconds=self.settings.waitlist_offer_seconds)
            offer = {
                "offer_id": offer_id,
                "freed_appointment_id": freed["_id"],
                "starts_at": freed["starts_at"],
                "ends_at": freed["ends_at"],
                "clinicians": freed["clinicians"],
                "room_id": freed.get("room_id"),
                "expires_at": expires_at,
                "made_at": now,
            }
            event = WaitlistOfferMade(
                offer_id=offer_id,
                client_id=entry["client_id"],
                site_id=freed["site_id"],
                site_timezone=freed["site_timezone"],
                appointment_type=freed["appointment_type"],
                starts_at=freed["starts_at"],
                ends_at=freed["ends_at"],
                expires_at=expires_at,
            )
            updated = await self.waitlist.update(
                tenant_id,
                {"_id": entry["_id"], "status": "waiting"},
                {
                    "$set": {"status": "offered", "offer": offer},
                    "$push": {"history": {"change": "offered", "at": now, "offer_id": offer_id}},
                },
                [outbox(event, tenant_id)],
            )
            if updated is not None:
                return updated
        return None

    async def expire_offers(self) -> int:
        """Offers nobody took in time go back: the client keeps their place in the line."""
        now = datetime.now(UTC)
        expired = 0
        for due in await self.waitlist.offers_due_to_expire(now):
            updated = await self.waitlist.update(
                due["tenant_id"],
                {"_id": due["_id"], "status": "offered", "offer.expires_at": {"$lte": now}},
                {
                    "$set": {"status": "waiting", "offer": None},
                    "$push": {"history": {"change": "offer_expired", "at": now}},
                },
            )
            expired += updated is not None
        return expired
