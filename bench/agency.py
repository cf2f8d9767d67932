"""A synthetic large agency, created through the gateway's real APIs.

Full size: 50 sites, ~1,500 clinicians, 60,000 clients, and a busy week of 37,500
appointments (25 sessions per clinician) of which 1,500 are dosing sessions. ``scale``
shrinks every count (0.01: 1 site, 15 clinicians, 600 clients, 375 appointments, 15
dosing sessions) so a run fits a few minutes on 2 cores.

Everything goes through the gateway with real tokens (identity signs them), with
bounded concurrency: the generator is also a load on the platform, not a database seed.
Bookings never clash: every booking gets its own hour on one agency-wide timeline
(``Timeline``), so a refusal is a bug, not a collision of the generator's making.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time as clock
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tests.e2e.journey import ADDRESS, Course, iso, ok, set_up_agency
from tests.e2e.platform import Gateway, Person

T = TypeVar("T")
R = TypeVar("R")

FULL_SITES = 50
FULL_CLINICIANS = 1_500
FULL_CLIENTS = 60_000
SESSIONS_PER_CLINICIAN_WEEK = 25
DOSING_SHARE = 0.04  # of a busy week's appointments: 1,500 of 37,500
LICENCE = [{"type": "LCSW", "number": "L-B", "state": "CO", "expires_on": "2030-01-01"}]


@dataclass(frozen=True)
class AgencySize:
    scale: float
    sites: int
    clinicians: int
    clients: int
    appointments: int
    dosing_sessions: int

    @classmethod
    def at(cls, scale: float) -> AgencySize:
        week = FULL_CLINICIANS * SESSIONS_PER_CLINICIAN_WEEK
        return cls(
            scale=scale,
            sites=max(1, round(FULL_SITES * scale)),
            clinicians=max(4, round(FULL_CLINICIANS * scale)),
            clients=max(20, round(FULL_CLIENTS * scale)),
            appointments=max(10, round(week * scale)),
            dosing_sessions=max(1, round(week * DOSING_SHARE * scale)),
        )


def progress(label: str, done: int, total: int) -> None:
    """A progress bar on stderr (the results go to stdout)."""
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r{label:<30} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def bounded(
    label: str,
    items: Sequence[T],
    action: Callable[[T], Awaitable[R]],
    concurrency: int,
) -> list[R]:
    """Run ``action`` over ``items`` with at most ``concurrency`` in flight, in order."""
    results: list[Any] = [None] * len(items)
    cursor = iter(enumerate(items))
    done = 0

    async def worker() -> None:
        nonlocal done
        for index, item in cursor:
            results[index] = await action(item)
            done += 1
            if done % 10 == 0 or done == len(items):
                progress(label, done, len(items))

    if items:
        await asyncio.gather(*[worker() for _ in range(min(concurrency, len(items)))])
    return results


async def poll(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = clock.monotonic() + within
    while clock.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.3)
    raise TimeoutError(f"{what}: not within {within:.0f} s")


class Timeline:
    """Hands out start times on an agency-wide timeline, one slot never reused.

    Regions keep kinds apart: preparation sessions all end before the first dosing
    session (the protocol counts preparations *before* the dosing), and load-test
    bookings never meet the generator's week.
    """

    def __init__(self, start_day: int, slot: timedelta) -> None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.origin = today + timedelta(days=start_day)
        self.slot = slot
        self._next = itertools.count()

    def take(self) -> datetime:
        return self.origin + self.slot * next(self._next)


@dataclass
class Site:
    id: str
    front_desk: Person
    therapists: list[Person]
    office_id: str = ""
    dosing_room_id: str = ""


@dataclass
class Agency:
    size: AgencySize
    course: Course  # site 0 and its full staff (journey's set-up)
    sites: list[Site] = field(default_factory=list)
    clients: dict[str, list[str]] = field(default_factory=dict)  # site id -> client ids
    appointments: int = 0
    dosing_appointments: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    dosing_booking_ms: list[float] = field(default_factory=list)

    @property
    def tenant(self) -> str:
        return self.course.staff.admin.agency_id

    @property
    def home(self) -> Site:
        return self.sites[0]

    def summary(self) -> dict[str, Any]:
        return {
            "scale": self.size.scale,
            "sites": len(self.sites),
            "clinicians": sum(len(s.therapists) for s in self.sites) + 2,  # + prescriber, nurse
            "clients": sum(len(c) for c in self.clients.values()),
            "appointments": self.appointments,
            "dosing_sessions_in_progress": len(self.dosing_appointments),
            "seconds": self.timings_s,
            "dosing_booking_ms": {
                "count": len(self.dosing_booking_ms),
                "p50": round(sorted(self.dosing_booking_ms)[len(self.dosing_booking_ms) // 2], 1)
                if self.dosing_booking_ms
                else None,
                "max": round(max(self.dosing_booking_ms), 1) if self.dosing_booking_ms else None,
            },
        }


class Generator:
    def __init__(self, gw: Gateway, size: AgencySize, concurrency: int = 12) -> None:
        self.gw = gw
        self.size = size
        self.concurrency = concurrency
        self.preparations = Timeline(1, timedelta(hours=2))  # days 1..~25 at 0.01
        self.dosing = Timeline(60, timedelta(hours=9))
        self.week = Timeline(150, timedelta(hours=1))
        self.load = Timeline(400, timedelta(hours=1))  # the booking benchmark's own

    async def _timed(self, agency: Agency, name: str, work: Awaitable[T]) -> T:
        started = clock.perf_counter()
        result = await work
        agency.timings_s[name] = round(clock.perf_counter() - started, 1)
        return result

    async def build(self, dosing_sessions: int = 0) -> Agency:
        """The agency; ``dosing_sessions`` (at least the week's volume) are set up right
        after the clients, so the consumers have the rest of the run to catch up."""
        course = await set_up_agency(self.gw, "Halcyon Synthetic Agency")
        agency = Agency(self.size, course)
        await self._timed(agency, "sites_and_staff", self._sites_and_staff(agency))
        await self._timed(agency, "clients", self._clients(agency))
        sessions = max(dosing_sessions, self.size.dosing_sessions)
        await self._timed(agency, "dosing_sessions", self.dosing_sessions(agency, sessions))
        await self._timed(agency, "week_of_appointments", self._week(agency))
        return agency

    # -- sites, rooms, staff ----------------------------------------------------------
    async def _sites_and_staff(self, agency: Agency) -> None:
        s = agency.course.staff
        admin = s.admin
        site_ids = [agency.course.site_id]
        for n in range(1, self.size.sites):
            created = await self.gw.post(
                "/api/identity/sites",
                admin,
                json={"name": f"Site {n}", "timezone": "America/Denver", "address": ADDRESS},
            )
            site_ids.append(ok(created, 201)["id"])
        # Clinicians: the journey's prescriber, nurse and two therapists at site 0, the
        # rest therapists spread over the sites (licensed: any of them may lead a dyad).
        extra = max(0, self.size.clinicians - 4)
        per_site = [
            extra // len(site_ids) + (i < extra % len(site_ids)) for i in range(len(site_ids))
        ]

        async def staff_for(index: int) -> Site:
            site_id = site_ids[index]
            front = s.front_desk if index == 0 else None
            if front is None:
                front = await self.gw.add_staff(admin, "front_desk", site_id, f"Desk {index}")
            therapists = [s.lead, s.second] if index == 0 else []
            for k in range(per_site[index]):
                therapists.append(
                    await self.gw.add_staff(
                        admin, "therapist", site_id, f"Therapist {index}-{k}", licences=LICENCE
                    )
                )
            return Site(site_id, front, therapists)

        agency.sites = await bounded(
            "sites and clinicians", list(range(len(site_ids))), staff_for, self.concurrency
        )

        async def rooms(site: Site) -> None:
            site.office_id = ok(
                await self.gw.post(
                    "/api/scheduling/rooms",
                    admin,
                    json={"site_id": site.id, "name": "Office", "attributes": ["office"]},
                ),
                201,
            )["id"]
            site.dosing_room_id = ok(
                await self.gw.post(
                    "/api/scheduling/rooms",
                    admin,
                    json={"site_id": site.id, "name": "Dosing", "attributes": ["dosing_room"]},
                ),
                201,
            )["id"]

        await bounded("rooms", agency.sites, rooms, self.concurrency)

    # -- clients --------------------------------------------------------------------
    async def _clients(self, agency: Agency) -> None:
        homes = [agency.sites[i % len(agency.sites)] for i in range(self.size.clients)]

        async def register(pair: tuple[int, Site]) -> tuple[str, str]:
            n, site = pair
            body = ok(
                await self.gw.post(
                    "/api/clinical/clients",
                    site.front_desk,
                    json={
                        "given_name": f"Client{n}",
                        "family_name": "Synthetic",
                        "date_of_birth": f"19{50 + n % 50:02d}-0{1 + n % 9}-1{n % 10}",
                        "home_site_id": site.id,
                        "email": f"client{n}-{site.id[-6:]}@example.test",
                    },
                ),
                201,
            )
            return site.id, str(body["id"])

        created = await bounded("clients", list(enumerate(homes)), register, self.concurrency)
        for site_id, client_id in created:
            agency.clients.setdefault(site_id, []).append(client_id)
        # Scheduling learns clients from ClientRegistered (one partition: in order), so the
        # last one known means all are.
        last_site, last_client = created[-1]
        desk = next(s.front_desk for s in agency.sites if s.id == last_site)

        async def known() -> bool:
            response = await self.gw.get(f"/api/scheduling/clients/{last_client}", desk)
            return response.status_code == 200

        await poll(known, 300, "scheduling knows the clients")

    # -- a busy week -------------------------------------------------------------------
    def booking(self, site: Site, client_id: str, n: int, when: datetime) -> dict[str, Any]:
        therapist = site.therapists[n % len(site.therapists)]
        return {
            "client_id": client_id,
            "site_id": site.id,
            "appointment_type": "psychotherapy",
            "starts_at": iso(when),
            "clinicians": [{"staff_id": therapist.id, "role": "therapist"}],
            "room_id": site.office_id,
        }

    async def _week(self, agency: Agency) -> None:
        plan: list[tuple[Site, dict[str, Any]]] = []
        routine = self.size.appointments - self.size.dosing_sessions
        for n in range(routine):
            site = agency.sites[n % len(agency.sites)]
            clients = agency.clients[site.id]
            plan.append((site, self.booking(site, clients[n % len(clients)], n, self.week.take())))

        async def book(item: tuple[Site, dict[str, Any]]) -> None:
            site, body = item
            ok(await self.gw.post("/api/scheduling/appointments", site.front_desk, json=body), 201)

        await bounded("week: appointments", plan, book, self.concurrency)
        agency.appointments += len(plan)

    # -- dosing sessions in progress (for the dispensing benchmark) ---------------------
    async def dosing_sessions(self, agency: Agency, count: int) -> list[str]:
        """``count`` MDMA dosing sessions checked in and started, each through the full
        protocol gating: consent, eligible screening, three completed preparations."""
        s = agency.course.staff
        site = agency.home
        clients = agency.clients[site.id]
        if len(clients) < count:
            raise ValueError(f"{count} dosing sessions need {count} clients at the home site")
        chosen = clients[:count]
        now = datetime.now(UTC).replace(microsecond=0)

        async def gate(client_id: str) -> None:
            ok(
                await self.gw.post(
                    f"/api/clinical/clients/{client_id}/consents",
                    s.lead,
                    json={
                        "kind": "psychedelic_informed",
                        "protocol_id": "mdma-ptsd",
                        "effective_at": iso(now - timedelta(minutes=5)),
                        "signed_by_name": "Synthetic Client",
                        "signed_at": iso(now - timedelta(minutes=5)),
                    },
                ),
                201,
            )
            ok(
                await self.gw.post(
                    f"/api/clinical/clients/{client_id}/screenings",
                    s.prescriber,
                    json={
                        "protocol_id": "mdma-ptsd",
                        "history": {
                            "screened_on": now.date().isoformat(),
                            "systolic_bp": 122,
                            "diastolic_bp": 78,
                            "qtc_ms": 410,
                            "diagnoses": ["F43.10"],
                        },
                    },
                ),
                201,
            )

        await bounded("dosing: consent+screening", chosen, gate, self.concurrency)
        last = chosen[-1]

        async def ready() -> bool:
            response = await self.gw.get(
                f"/api/scheduling/clients/{last}/protocols/mdma-ptsd/readiness", s.front_desk
            )
            body = response.json() if response.status_code == 200 else {}
            return bool(body.get("informed_consent") and body.get("eligible_screening"))

        await poll(ready, 300, "scheduling knows consents and screenings")

        dosing_gate = asyncio.Semaphore(2)

        async def prepare_and_start(pair: tuple[int, str]) -> str:
            n, client_id = pair
            for _ in range(3):
                body = self.booking(site, client_id, n, self.preparations.take())
                body["appointment_type"] = "mdma_preparation"
                prep = ok(
                    await self.gw.post("/api/scheduling/appointments", site.front_desk, json=body),
                    201,
                )
                for step in ("check-in", "start", "complete"):
                    ok(
                        await self.gw.post(
                            f"/api/scheduling/appointments/{prep['id']}/{step}", site.front_desk
                        )
                    )
            body = {
                "client_id": client_id,
                "site_id": site.id,
                "appointment_type": "mdma_dosing",
                "starts_at": iso(self.dosing.take()),
                "clinicians": [
                    {"staff_id": s.lead.id, "role": "therapist"},
                    {"staff_id": s.second.id, "role": "therapist"},
                ],
                "room_id": site.dosing_room_id,
            }
            # An 8-hour dosing session claims 4 resources x 96 five-minute buckets plus 28
            # dosing days (~410 claim documents, ADR 0400): few at a time, or the writes
            # queue behind each other past the gateway's 30 s upstream timeout.
            async with dosing_gate:
                started = clock.perf_counter()
                response = await self.gw.post(
                    "/api/scheduling/appointments", site.front_desk, json=body
                )
                agency.dosing_booking_ms.append((clock.perf_counter() - started) * 1000)
            dosing = ok(response, 201)
            for step in ("check-in", "start"):
                ok(
                    await self.gw.post(
                        f"/api/scheduling/appointments/{dosing['id']}/{step}", s.nurse
                    )
                )
            return str(dosing["id"])

        started = await bounded(
            "dosing: prep x3, book, start",
            list(enumerate(chosen)),
            prepare_and_start,
            self.concurrency,
        )
        agency.appointments += 4 * len(started)
        agency.dosing_appointments = started
        return started


__all__ = ["Agency", "AgencySize", "Generator", "Site", "bounded", "poll"]
