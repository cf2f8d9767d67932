"""Scheduling as a real process on real Kafka and FerretDB.

Identity's and clinical's facts reach the service the way they do in production:
as events we publish on Kafka (SiteChanged, StaffMemberChanged, ClientRegistered,
ConsentChanged, ScreeningCompleted). Nothing is inserted behind its back.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from halcyon.shared.contracts import EventContract
from halcyon.shared.contracts.billing import AuthorizationChanged
from halcyon.shared.contracts.clinical import ClientRegistered, ConsentChanged, ScreeningCompleted
from halcyon.shared.contracts.identity import (
    AccessAudited,
    Licence,
    SiteChanged,
    StaffMemberChanged,
)
from halcyon.shared.contracts.scheduling import AppointmentChanged, WaitlistOfferMade
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.mongo import Document
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.processes import ServiceProcess
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from halcyon.shared.testing.topics import read_topic
from pymongo import AsyncMongoClient

from tests.fixtures import StartService

pytestmark = pytest.mark.integration
DENVER = ZoneInfo("America/Denver")
SITE = "site-den"


class World:
    """One tenant's world: publishes identity/clinical events, calls scheduling's API."""

    def __init__(
        self,
        service: ServiceProcess,
        servers: Servers,
        issuer: TestTokenIssuer,
        prefix: str,
        database: Any,
    ) -> None:
        self.service = service
        self.servers = servers
        self.issuer = issuer
        self.prefix = prefix
        self.db = database
        self.tenant = f"agency-{uuid.uuid4().hex[:8]}"
        self.http = httpx.AsyncClient(base_url=service.url, timeout=60.0)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=servers.kafka_bootstrap, enable_idempotence=True
        )

    def headers(self, roles: list[tuple[str, str]] | None = None) -> dict[str, str]:
        return self.issuer.headers(tenant_id=self.tenant, roles=roles or [("*", "agency_admin")])

    async def publish(self, event: EventContract) -> None:
        envelope = EventEnvelope.wrap(event, source="/halcyon/tests", tenant_id=self.tenant)
        await self.producer.send_and_wait(
            self.prefix + event.topic, envelope.to_bytes(), key=envelope.subject.encode()
        )

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=self.headers())

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.headers())

    async def until_ok(self, path: str, check: Any = None, **params: Any) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            response = await self.get(path, **params)
            if response.status_code != 200:
                return None
            body: dict[str, Any] = response.json()
            return body if check is None or check(body) else None

        return await eventually(probe, within=60, message=f"GET {path} settled")

    # -- facts from other contexts, as events ------------------------------------------
    async def site(self, site_id: str = SITE, tz: str = "America/Denver") -> None:
        await self.publish(SiteChanged(site_id=site_id, name=f"Clinic {site_id}", timezone=tz))
        await self.until_ok(f"/sites/{site_id}")

    async def staff(
        self,
        staff_id: str,
        *,
        site_id: str = SITE,
        role: str = "therapist",
        licensed_until: date | None = date(2030, 1, 1),
    ) -> None:
        licences = (
            [Licence(type="LCSW", number=f"L-{staff_id}", state="CO", expires_on=licensed_until)]
            if licensed_until
            else []
        )
        await self.publish(
            StaffMemberChanged(
                staff_id=staff_id,
                display_name=staff_id.title(),
                roles=[{"site": site_id, "role": role}],
                licences=licences,
            )
        )

        def matches(body: dict[str, Any]) -> bool:
            expiry = [lic["expires_on"] for lic in body["licences"]]
            wanted = [licensed_until.isoformat()] if licensed_until else []
            return bool(body["roles"] == [{"site": site_id, "role": role}] and expiry == wanted)

        await self.until_ok(f"/clinicians/{staff_id}", matches)

    async def client(self, client_id: str, site_id: str = SITE) -> None:
        await self.publish(
            ClientRegistered(
                client_id=client_id,
                home_site_id=site_id,
                given_name="Ada",
                family_name=client_id,
                date_of_birth=date(1985, 5, 5),
            )
        )
        await self.until_ok(f"/clients/{client_id}")

    async def room(self, name: str, attributes: list[str], site_id: str = SITE) -> str:
        response = await self.post(
            "/rooms", {"site_id": site_id, "name": name, "attributes": attributes}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def book(
        self,
        client_id: str,
        kind: str,
        starts_at: datetime,
        clinicians: list[str],
        room_id: str | None,
        site_id: str = SITE,
    ) -> httpx.Response:
        return await self.post(
            "/appointments",
            {
                "client_id": client_id,
                "site_id": site_id,
                "appointment_type": kind,
                "starts_at": starts_at.isoformat(),
                "clinicians": [{"staff_id": c, "role": "therapist"} for c in clinicians],
                "room_id": room_id,
            },
        )

    async def count(self, collection: str) -> int:
        return int(await self.db[collection].count_documents({"tenant_id": self.tenant}))

    async def read_topic(
        self, topic: str, want: int = 1, until: Callable[[list[dict[str, Any]]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """Read from the beginning until ``want`` events arrived (and ``until`` holds)."""
        return await read_topic(
            self.servers.kafka_bootstrap,
            self.prefix + topic,
            until=lambda seen: len(seen) >= want and (until is None or until(seen)),
        )


@asynccontextmanager
async def running(
    start_service: StartService,
    servers: Servers,
    issuer: TestTokenIssuer,
    prefix: str,
    unique: str,
    mongo: AsyncMongoClient[Document],
    **env: str,
) -> AsyncIterator[World]:
    service = start_service("scheduling", **env)
    w = World(service, servers, issuer, prefix, mongo[f"t_{unique}_scheduling"])
    await w.producer.start()
    try:
        yield w
    finally:
        await w.producer.stop()
        await w.http.aclose()


@pytest_asyncio.fixture
async def world(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    mongo_client: AsyncMongoClient[Document],
) -> AsyncIterator[World]:
    async with running(
        start_service, servers, token_issuer, topic_prefix, unique, mongo_client
    ) as w:
        yield w


@pytest_asyncio.fixture
async def impatient_world(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
    mongo_client: AsyncMongoClient[Document],
) -> AsyncIterator[World]:
    """Waitlist offers expire after one second and are swept every half second."""
    async with running(
        start_service,
        servers,
        token_issuer,
        topic_prefix,
        unique,
        mongo_client,
        HALCYON_SCHEDULING_WAITLIST_OFFER_SECONDS="1",
        HALCYON_SCHEDULING_WAITLIST_SWEEP_SECONDS="0.5",
    ) as w:
        yield w


def next_weekday(weekday: int, at: time, *, after_days: int = 7) -> datetime:
    """A wall-clock time in Denver on the first given weekday at least N days ahead."""
    day = datetime.now(DENVER).date() + timedelta(days=after_days)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    return datetime.combine(day, at, tzinfo=DENVER)


def codes(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"].endswith("/booking-refused"), body
    return {c["code"] for c in body["failed_conditions"]}


# ------------------------------------------------------------------------------------


async def test_one_slot_twenty_requests_exactly_one_booking_and_conflicts_refused(
    world: World,
) -> None:
    await world.site()
    for staff_id in ("ana", "ben", "cy"):
        await world.staff(staff_id)
    for client_id in ("c1", "c2", "c3"):
        await world.client(client_id)
    room_a = await world.room("Office A", ["office"])
    room_b = await world.room("Office B", ["office"])
    ten = next_weekday(1, time(10, 0))

    # Bad input: 422 problems, and nothing at all is written.
    good: dict[str, Any] = {
        "client_id": "c1",
        "site_id": SITE,
        "appointment_type": "psychotherapy",
        "starts_at": ten.isoformat(),
        "clinicians": [{"staff_id": "ana", "role": "therapist"}],
        "room_id": room_a,
    }
    bad_bodies = [
        {**good, "starts_at": ten.replace(tzinfo=None).isoformat()},  # no offset
        {**good, "starts_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},  # past
        {**good, "clinicians": []},
        {**good, "surprise": True},
        {**good, "appointment_type": "Not A Type!"},
        {k: v for k, v in good.items() if k != "client_id"},
    ]
    for body in bad_bodies:
        response = await world.post("/appointments", body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    refused = await world.post("/appointments", {**good, "appointment_type": "mdma_dosing"})
    assert codes(refused) >= {"clinician_count", "room_attribute", "informed_consent"}
    series = await world.post(
        "/series",
        {
            **{k: v for k, v in good.items() if k != "starts_at"},
            "first_date": ten.date().isoformat(),
            "local_time": "10:00",
            "recurrence": {"frequency": "weekly"},  # neither count nor until
        },
    )
    assert series.status_code == 422
    assert await world.count("appointments") == 0
    assert await world.count("slot_claims") == 0
    assert await world.count("series") == 0

    # A front-desk user of another site may not book here.
    other_site = await world.http.post(
        "/appointments", json=good, headers=world.headers([("site-elsewhere", "front_desk")])
    )
    assert other_site.status_code == 403

    # Twenty requests for the same slot at the same time: exactly one wins.
    responses = await asyncio.gather(*[world.post("/appointments", good) for _ in range(20)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [r.text for r in responses if r.status_code != 409]
    assert await world.count("appointments") == 1
    [winner] = [r.json() for r in responses if r.status_code == 201]
    assert winner["starts_at_local"].startswith(ten.isoformat()[:16])
    loser = next(r.json() for r in responses if r.status_code == 409)
    assert loser["type"].endswith("/slot-taken")

    # Each kind of overlap is refused, naming what is taken.
    at = ten + timedelta(minutes=30)
    clash = await world.book("c2", "psychotherapy", at, ["ana"], room_b)
    assert clash.status_code == 409
    assert clash.json()["resource_kind"] == "clinician"
    clash = await world.book("c2", "psychotherapy", at, ["ben"], room_a)
    assert clash.status_code == 409
    assert clash.json()["resource_kind"] == "room"
    clash = await world.book("c1", "psychotherapy", at, ["ben"], room_b)
    assert clash.status_code == 409
    assert clash.json()["resource_kind"] == "client"
    # Right after the 53-minute session (at :55) the same people and room are free.
    after = await world.book("c1", "psychotherapy", ten + timedelta(minutes=55), ["ana"], room_a)
    assert after.status_code == 201, after.text
    # Other people in another room at the same time: fine.
    parallel = await world.book("c3", "psychotherapy", ten, ["cy"], room_b)
    assert parallel.status_code == 201, parallel.text

    # Cancelling releases the slot for someone else.
    cancelled = await world.post(f"/appointments/{winner['id']}/cancel", {"reason": "sick"})
    assert cancelled.status_code == 200, cancelled.text
    rebooked = await world.book("c2", "psychotherapy", ten, ["ana"], room_a)
    assert rebooked.status_code == 201, rebooked.text

    # The refused attempt from another site was audited as denied (HIPAA access trail).
    await world.read_topic(
        AccessAudited.topic,
        until=lambda audits: any(
            a["data"]["outcome"] == "denied" and a["data"]["client_id"] == "c1" for a in audits
        ),
    )


async def test_dosing_gating_refuses_each_condition_until_events_satisfy_it(
    world: World,
) -> None:
    first_prep = next_weekday(0, time(9, 0))
    dosing_at = first_prep + timedelta(days=7)

    async def book_dosing(at: datetime = dosing_at) -> httpx.Response:
        return await world.book("cl", "mdma_dosing", at, ["tess", "uma"], dosing_room)

    # Unknown site: refused before anything else can be judged.
    unknown = await world.book("cl", "mdma_dosing", dosing_at, ["tess", "uma"], "room-x")
    assert codes(unknown) == {"site_unknown"}
    await world.site()
    dosing_room = await world.room("Dosing suite", ["dosing_room"])
    office = await world.room("Office", ["office"])
    await world.client("cl")
    # Tess is a therapist at another site and unlicensed; Uma's licence has lapsed.
    await world.staff("tess", site_id="site-other", licensed_until=None)
    await world.staff("uma", licensed_until=date(2020, 1, 1))

    assert codes(await book_dosing()) == {
        "clinician_role",
        "clinician_licence",
        "informed_consent",
        "eligible_screening",
        "preparation_sessions",
    }

    # Identity: Tess now works here, licensed. One licensed therapist of the dyad is enough.
    await world.staff("tess")
    assert codes(await book_dosing()) == {
        "informed_consent",
        "eligible_screening",
        "preparation_sessions",
    }

    now = datetime.now(UTC)
    await world.publish(
        ConsentChanged(
            consent_id="consent-1",
            client_id="cl",
            kind="psychedelic_informed",
            protocol_id="mdma-ptsd",
            status="active",
            effective_at=now,
        )
    )
    readiness = "/clients/cl/protocols/mdma-ptsd/readiness"
    await world.until_ok(readiness, lambda b: b["informed_consent"])
    assert codes(await book_dosing()) == {"eligible_screening", "preparation_sessions"}

    await world.publish(
        ScreeningCompleted(
            screening_id="scr-1",
            client_id="cl",
            protocol_id="mdma-ptsd",
            eligible=False,
            reasons=["uncontrolled hypertension"],
            signed_by="dr-p",
            signed_at=now,
        )
    )
    await world.until_ok(readiness, lambda b: b["eligible_screening"] is False)
    assert codes(await book_dosing()) == {"eligible_screening", "preparation_sessions"}
    await world.publish(
        ScreeningCompleted(
            screening_id="scr-2",
            client_id="cl",
            protocol_id="mdma-ptsd",
            eligible=True,
            signed_by="dr-p",
            signed_at=now + timedelta(minutes=1),
        )
    )
    await world.until_ok(readiness, lambda b: b["eligible_screening"] is True)
    assert codes(await book_dosing()) == {"preparation_sessions"}

    # Preparation sessions count only once completed: 3 for MDMA.
    for n in range(3):
        prep = await world.book(
            "cl", "mdma_preparation", first_prep + timedelta(days=n), ["tess"], office
        )
        assert prep.status_code == 201, prep.text
        if n < 2:
            for step in ("check-in", "start", "complete"):
                done = await world.post(f"/appointments/{prep.json()['id']}/{step}")
                assert done.status_code == 200, done.text
        last_prep = prep.json()["id"]
    assert codes(await book_dosing()) == {"preparation_sessions"}
    for step in ("check-in", "start", "complete"):
        assert (await world.post(f"/appointments/{last_prep}/{step}")).status_code == 200

    # The licence that counted lapses (identity says so): refused for exactly that.
    await world.staff("tess", licensed_until=date(2021, 1, 1))
    assert codes(await book_dosing()) == {"clinician_licence"}
    await world.staff("uma", licensed_until=date(2031, 6, 30))  # Uma renewed

    dosing = await book_dosing()
    assert dosing.status_code == 201, dosing.text
    proposed = dosing.json()["proposed_integration_sessions"]
    assert len(proposed) == 3
    assert {p["appointment_type"] for p in proposed} == {"mdma_integration"}
    assert all(p["starts_at"] > dosing.json()["starts_at"] for p in proposed)
    assert dosing.json()["ends_at_local"][11:16] == "17:00"  # 8 hours

    # The next dosing session must be about a month later.
    assert codes(await book_dosing(dosing_at + timedelta(days=14))) == {"dosing_interval"}
    # Two front-desk users book the next session at once, a week apart: only one may
    # stand (the interval is claimed, not just checked).
    racing = await asyncio.gather(
        book_dosing(dosing_at + timedelta(days=28)), book_dosing(dosing_at + timedelta(days=35))
    )
    assert sorted(r.status_code for r in racing) == [201, 422], [r.text for r in racing]
    assert codes(next(r for r in racing if r.status_code == 422)) == {"dosing_interval"}

    # Revoking consent (clinical's event) stops further dosing bookings.
    await world.publish(
        ConsentChanged(
            consent_id="consent-1",
            client_id="cl",
            kind="psychedelic_informed",
            protocol_id="mdma-ptsd",
            status="revoked",
            effective_at=datetime.now(UTC),
        )
    )
    await world.until_ok(readiness, lambda b: not b["informed_consent"])
    assert codes(await book_dosing(dosing_at + timedelta(days=70))) == {"informed_consent"}


async def test_weekly_series_keeps_local_time_across_dst_and_occurrences_change_alone(
    world: World,
) -> None:
    await world.site()
    await world.staff("ana")
    await world.staff("ben")
    await world.client("c1")
    room = await world.room("Office", ["office"])
    # US daylight saving starts on the second Sunday of March (next spring from today).
    year = datetime.now(UTC).year + 1
    march = date(year, 3, 1)
    second_sunday = march + timedelta(days=(6 - march.weekday()) % 7 + 7)
    first = second_sunday - timedelta(days=12)  # a Tuesday, two weeks before the change
    # Someone already holds Ana on the third Tuesday.
    await world.client("c9")
    third = datetime.combine(first + timedelta(days=14), time(10), tzinfo=DENVER)
    blocker = await world.book("c9", "psychotherapy", third, ["ana"], None)
    assert blocker.status_code == 422  # psychotherapy needs a room
    other_room = await world.room("Office 2", ["office"])
    blocker = await world.book("c9", "psychotherapy", third, ["ana"], other_room)
    assert blocker.status_code == 201, blocker.text

    response = await world.post(
        "/series",
        {
            "client_id": "c1",
            "site_id": SITE,
            "appointment_type": "psychotherapy",
            "first_date": first.isoformat(),
            "local_time": "10:00",
            "clinicians": [{"staff_id": "ana", "role": "therapist"}],
            "room_id": room,
            "recurrence": {"frequency": "weekly", "count": 4},
        },
    )
    assert response.status_code == 201, response.text
    series = response.json()
    booked = series["appointments"]
    assert [a["starts_at_local"][11:16] for a in booked] == ["10:00"] * 3
    # 10:00 MST is 17:00 UTC before the change; 10:00 MDT is 16:00 UTC after it.
    hours = [datetime.fromisoformat(a["starts_at"]).astimezone(UTC).hour for a in booked]
    assert hours == [17, 17, 16]
    [skipped] = series["skipped"]
    assert skipped["starts_at_local"][11:16] == "10:00"
    assert skipped["failed_conditions"] == []
    assert "clinician ana" in skipped["reason"]

    # One occurrence changes on its own: moved to Ben at 11:00 local; the rest stay.
    moved_at = datetime.fromisoformat(booked[1]["starts_at_local"]).replace(hour=11)
    moved = await world.post(
        f"/appointments/{booked[1]['id']}/reschedule",
        {
            "starts_at": moved_at.isoformat(),
            "clinicians": [{"staff_id": "ben", "role": "therapist"}],
        },
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["starts_at_local"][11:16] == "11:00"
    assert moved.json()["series_id"] == series["id"]
    assert [h["change"] for h in moved.json()["history"]] == ["booked", "rescheduled"]
    # Ana's old 10:00 is free again; the other occurrences are untouched.
    freed = datetime.fromisoformat(booked[1]["starts_at"])
    assert (await world.book("c9", "psychotherapy", freed, ["ana"], other_room)).status_code == 201
    listed = await world.get("/appointments", site_id=SITE, series_id=series["id"])
    assert [a["starts_at"] for a in listed.json()["items"]] == [
        booked[0]["starts_at"],
        moved.json()["starts_at"],
        booked[2]["starts_at"],
    ]


async def test_free_slot_search_honours_availability_time_off_rooms_and_roles(
    world: World,
) -> None:
    await world.site()
    monday = next_weekday(0, time(0, 0))
    day = monday.date()
    hours = [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(5)]
    response = await world.http.put(
        f"/sites/{SITE}/opening-hours", json={"windows": hours}, headers=world.headers()
    )
    assert response.status_code == 200, response.text
    for staff_id in ("ana", "ben", "cy"):
        await world.staff(staff_id)
    await world.staff("desk", role="front_desk")
    office = await world.room("Office", ["office"])
    dosing_room = await world.room("Dosing suite", ["dosing_room"])

    async def availability(staff_id: str, start: str, end: str) -> None:
        weekly = [{"weekday": d, "start": start, "end": end} for d in range(5)]
        r = await world.http.put(
            f"/clinicians/{staff_id}/availability",
            json={"site_id": SITE, "weekly": weekly},
            headers=world.headers(),
        )
        assert r.status_code == 200, r.text

    await availability("ana", "09:00", "17:00")
    await availability("ben", "09:00", "17:00")
    await availability("cy", "08:00", "18:00")
    await availability("desk", "08:00", "18:00")
    off = await world.post(
        "/clinicians/cy/time-off",
        {
            "starts_at": monday.isoformat(),
            "ends_at": (monday + timedelta(days=1)).isoformat(),
            "reason": "conference",
        },
    )
    assert off.status_code == 201, off.text

    async def search(kind: str, *clinicians: str, on: date = day) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "site_id": SITE,
            "appointment_type": kind,
            "from_date": on.isoformat(),
            "to_date": on.isoformat(),
            "limit": 200,
        }
        if clinicians:
            params["clinician_id"] = list(clinicians)
        r = await world.get("/free-slots", **params)
        assert r.status_code == 200, r.text
        slots: list[dict[str, Any]] = r.json()["slots"]
        return slots

    # 8-hour dosing with two therapists: only Ana + Ben at 09:00 (Cy is off), dosing room only.
    dosing = await search("mdma_dosing")
    assert [(s["starts_at_local"][11:16], s["room_id"]) for s in dosing] == [("09:00", dosing_room)]
    assert {c["staff_id"] for c in dosing[0]["clinicians"]} == {"ana", "ben"}
    # Tuesday Cy is back (08:00-18:00) but a dyad still needs Ana or Ben, who start at 09:00.
    tuesday = await search("mdma_dosing", on=day + timedelta(days=1))
    assert [s["starts_at_local"][11:16] for s in tuesday] == ["09:00"]
    # A front-desk person never fills a therapist's place.
    assert all(
        c["staff_id"] != "desk" for s in await search("psychotherapy") for c in s["clinicians"]
    )
    # Time off: nothing for Cy on Monday.
    assert await search("psychotherapy", "cy") == []
    # Ana's template: 09:00 to 16:00 starts (53 minutes must fit before 17:00).
    ana = [s["starts_at_local"][11:16] for s in await search("psychotherapy", "ana")]
    assert ana[0] == "09:00"
    assert ana[-1] == "16:00"
    assert len(ana) == 29

    # A booking takes Ana's 10:00-10:53 out of the results (and the starts overlapping it).
    await world.client("c1")
    r = await world.book("c1", "psychotherapy", monday.replace(hour=10), ["ana"], office)
    assert r.status_code == 201, r.text
    ana = [s["starts_at_local"][11:16] for s in await search("psychotherapy", "ana")]
    assert "09:00" in ana
    assert "11:00" in ana
    assert not {"09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45"} & set(ana)
    # Rooms: the office is busy at 10:00; psychotherapy takes any room, so Ben gets the suite.
    ben = [
        s for s in await search("psychotherapy", "ben") if s["starts_at_local"][11:16] == "10:00"
    ]
    assert [s["room_id"] for s in ben] == [dosing_room]
    # A telehealth session needs no room.
    video = await search("telehealth_psychotherapy", "ben")
    assert video
    assert all(s["room_id"] is None for s in video)


async def test_status_changes_publish_events_and_a_cancellation_offers_the_waitlist(
    world: World,
) -> None:
    await world.site()
    await world.staff("ana")
    for client_id in ("c1", "c2", "c3"):
        await world.client(client_id)
    office = await world.room("Office", ["office"])
    start = next_weekday(2, time(9, 0))

    first = await world.book("c1", "psychotherapy", start, ["ana"], office)
    assert first.status_code == 201, first.text
    first_id = first.json()["id"]
    for step in ("check-in", "start", "complete"):
        assert (await world.post(f"/appointments/{first_id}/{step}")).status_code == 200
    again = await world.post(f"/appointments/{first_id}/cancel", {"reason": "too late"})
    assert again.status_code == 409  # a completed appointment cannot be cancelled

    # A video session takes no room and gets a link; offering it a room is refused.
    video_at = start + timedelta(days=1)
    with_room = await world.book("c2", "telehealth_psychotherapy", video_at, ["ana"], office)
    assert codes(with_room) == {"room"}
    video = await world.book("c2", "telehealth_psychotherapy", video_at, ["ana"], None)
    assert video.status_code == 201, video.text
    assert video.json()["room_id"] is None
    assert video.json()["video_link"].startswith("https://")

    # A retried request with the same Idempotency-Key books once.
    retry_body = {
        "client_id": "c3",
        "site_id": SITE,
        "appointment_type": "psychotherapy",
        "starts_at": (start + timedelta(days=2)).isoformat(),
        "clinicians": [{"staff_id": "ana", "role": "therapist"}],
        "room_id": office,
    }
    key_headers = {**world.headers(), "Idempotency-Key": f"book-{uuid.uuid4().hex}"}
    once = await world.http.post("/appointments", json=retry_body, headers=key_headers)
    twice = await world.http.post("/appointments", json=retry_body, headers=key_headers)
    assert once.status_code == 201, (once.text, twice.text)
    assert twice.status_code == 201, (once.text, twice.text)
    assert once.json()["id"] == twice.json()["id"]

    second = await world.book("c1", "psychotherapy", start + timedelta(hours=2), ["ana"], office)
    second_id = second.json()["id"]
    assert (await world.post(f"/appointments/{second_id}/no-show")).status_code == 200

    # c2 waits for a psychotherapy slot with Ana; c3 waits for any psychotherapy slot later.
    entry = await world.post(
        "/waitlist",
        {
            "client_id": "c2",
            "site_id": SITE,
            "appointment_type": "psychotherapy",
            "clinician_id": "ana",
        },
    )
    assert entry.status_code == 201, entry.text
    entry_id = entry.json()["id"]

    # Soon (inside the 24 h notice): rescheduled, then cancelled → a late cancel.
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=3)
    third = await world.book("c3", "psychotherapy", soon, ["ana"], office)
    assert third.status_code == 201, third.text
    third_id = third.json()["id"]
    moved = await world.post(
        f"/appointments/{third_id}/reschedule",
        {"starts_at": (soon + timedelta(hours=1)).isoformat()},
    )
    assert moved.status_code == 200, moved.text
    cancelled = await world.post(f"/appointments/{third_id}/cancel", {"reason": "car broke down"})
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert body["late_cancel"] is True
    assert body["cancel_reason"] == "car broke down"
    assert [h["change"] for h in body["history"]] == ["booked", "rescheduled", "cancelled"]

    # Every change was published, in order per appointment.
    events = await world.read_topic(AppointmentChanged.topic, want=11)
    changes: dict[str, list[str]] = {}
    for envelope in events:
        data = AppointmentChanged.model_validate(envelope["data"])
        assert envelope["tenantid"] == world.tenant
        changes.setdefault(data.appointment_id, []).append(data.change)
    assert changes[first_id] == ["booked", "checked_in", "started", "completed"]
    assert changes[second_id] == ["booked", "no_show"]
    assert changes[third_id] == ["booked", "rescheduled", "cancelled"]
    cancel_event = next(
        AppointmentChanged.model_validate(e["data"])
        for e in events
        if e["data"]["appointment_id"] == third_id and e["data"]["change"] == "cancelled"
    )
    assert cancel_event.late_cancel
    assert cancel_event.cancel_reason == "car broke down"
    moved_event = next(
        AppointmentChanged.model_validate(e["data"])
        for e in events
        if e["data"]["appointment_id"] == third_id and e["data"]["change"] == "rescheduled"
    )
    assert moved_event.previous_starts_at == datetime.fromisoformat(third.json()["starts_at"])

    # The freed slot went to c2, the first suitable client waiting, with an expiry.
    [offer_envelope] = await world.read_topic(WaitlistOfferMade.topic, want=1)
    offer = WaitlistOfferMade.model_validate(offer_envelope["data"])
    assert offer.client_id == "c2"
    assert offer.starts_at == datetime.fromisoformat(moved.json()["starts_at"])
    assert offer.expires_at > datetime.now(UTC)
    waiting = await world.get(f"/waitlist/{entry_id}")
    assert waiting.json()["status"] == "offered"
    taken = await world.post(f"/waitlist/{entry_id}/accept")
    assert taken.status_code == 201, taken.text
    assert taken.json()["client_id"] == "c2"
    assert taken.json()["starts_at"] == moved.json()["starts_at"]
    assert (await world.get(f"/waitlist/{entry_id}")).json()["status"] == "booked"


async def test_unanswered_offer_expires_and_authorization_overrun_warns(
    impatient_world: World,
) -> None:
    world = impatient_world
    await world.site()
    await world.staff("ana")
    await world.client("c1")
    await world.client("c2")
    office = await world.room("Office", ["office"])
    start = next_weekday(3, time(14, 0))

    # Billing authorized 2 units of 90837 and 1 is used: one more fits, two do not.
    today = datetime.now(UTC).date()
    await world.publish(
        AuthorizationChanged(
            authorization_id="auth-1",
            client_id="c1",
            cpt="90837",
            units_authorized=2,
            units_used=1,
            starts_on=today,
            ends_on=today + timedelta(days=365),
        )
    )

    async def first_booking() -> httpx.Response | None:
        r = await world.book("c1", "psychotherapy", start, ["ana"], office)
        return r if r.status_code == 201 else None

    fits = await eventually(first_booking, message="booked")
    assert fits.json()["warnings"] == []

    async def warned() -> dict[str, Any] | None:
        later = start + timedelta(days=7)
        r = await world.book("c1", "psychotherapy", later, ["ana"], office)
        assert r.status_code == 201, r.text
        if r.json()["warnings"]:
            return dict(r.json())
        await world.post(f"/appointments/{r.json()['id']}/cancel", {"reason": "retry"})
        return None

    second = await eventually(warned, message="authorization read model applied")
    [warning] = second["warnings"]
    assert warning["code"] == "authorization_exceeded"
    assert warning["units_authorized"] == 2

    # c2 waits; c1 cancels; c2 is offered the slot but does not answer in time.
    entry = await world.post(
        "/waitlist", {"client_id": "c2", "site_id": SITE, "appointment_type": "psychotherapy"}
    )
    entry_id = entry.json()["id"]
    cancel = await world.post(f"/appointments/{second['id']}/cancel", {"reason": "moving"})
    assert cancel.status_code == 200
    [offer] = await world.read_topic(WaitlistOfferMade.topic, want=1)
    assert offer["data"]["client_id"] == "c2"

    def expired(body: dict[str, Any]) -> bool:
        return body["status"] == "waiting" and body["offer"] is None

    await world.until_ok(f"/waitlist/{entry_id}", expired)
    late = await world.post(f"/waitlist/{entry_id}/accept")
    assert late.status_code == 409


async def test_group_session_fills_to_room_capacity_and_frees_when_empty(world: World) -> None:
    await world.site()
    await world.staff("ana")
    await world.staff("ben")
    for client_id in ("g1", "g2", "g3"):
        await world.client(client_id)
    response = await world.post(
        "/rooms", {"site_id": SITE, "name": "Circle", "attributes": ["group_room"], "capacity": 2}
    )
    circle = response.json()["id"]
    at = next_weekday(4, time(17, 0))

    first = await world.book("g1", "group", at, ["ana"], circle)
    second = await world.book("g2", "group", at, ["ana"], circle)
    assert first.status_code == 201, (first.text, second.text)
    assert second.status_code == 201, (first.text, second.text)
    assert first.json()["group_session_id"] == second.json()["group_session_id"]
    full = await world.book("g3", "group", at, ["ana"], circle)
    assert full.status_code == 409
    assert "full" in full.json()["detail"]
    # Another group with Ben cannot take the same room at the same time.
    other = await world.book("g3", "group", at, ["ben"], circle)
    assert other.status_code == 409
    # Ana is busy with the group, so she cannot see an individual client then.
    busy = await world.book("g3", "psychotherapy", at, ["ana"], circle)
    assert busy.status_code == 409
    assert busy.json()["resource_kind"] == "clinician"

    # A seat freed by a cancellation can be taken.
    gone = await world.post(f"/appointments/{first.json()['id']}/cancel", {"reason": "ill"})
    assert gone.status_code == 200
    third = await world.book("g3", "group", at, ["ana"], circle)
    assert third.status_code == 201, third.text
    assert third.json()["group_session_id"] == second.json()["group_session_id"]

    # When the last client leaves, Ana and the room are free again.
    for appointment in (second.json(), third.json()):
        cancel = await world.post(f"/appointments/{appointment['id']}/cancel", {"reason": "x"})
        assert cancel.status_code == 200
    individual = await world.book("g1", "psychotherapy", at, ["ana"], circle)
    assert individual.status_code == 201, individual.text


def refusal(response: httpx.Response, slug: str) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"].endswith(f"/{slug}"), body
    return {c["code"] for c in body["failed_conditions"]}


async def test_check_in_and_start_regate_and_floors_cannot_be_loosened(world: World) -> None:
    """ADR 0403/0404: a revoked consent or an ineligible screening after booking flags the
    session and refuses check-in (naming each condition) until restored; start needs the
    protocol's two therapists in the room; an agency cannot go below the MAPP floor."""
    await world.site()
    dosing_room = await world.room("Dosing suite", ["dosing_room"])
    office = await world.room("Office", ["office"])
    await world.client("cl")
    await world.staff("tess")
    await world.staff("uma")
    now = datetime.now(UTC)
    readiness = "/clients/cl/protocols/mdma-ptsd/readiness"

    async def consent(status: str, consent_id: str = "consent-1") -> None:
        await world.publish(
            ConsentChanged(
                consent_id=consent_id,
                client_id="cl",
                kind="psychedelic_informed",
                protocol_id="mdma-ptsd",
                status=status,
                effective_at=now,
            )
        )
        await world.until_ok(readiness, lambda b: b["informed_consent"] is (status == "active"))

    async def screening(screening_id: str, eligible: bool, minutes: int) -> None:
        await world.publish(
            ScreeningCompleted(
                screening_id=screening_id,
                client_id="cl",
                protocol_id="mdma-ptsd",
                eligible=eligible,
                signed_by="dr-p",
                signed_at=now + timedelta(minutes=minutes),
            )
        )
        await world.until_ok(readiness, lambda b: b["eligible_screening"] is eligible)

    # Floors: one therapist for MDMA dosing is refused, naming the floor and its source.
    types = {t["code"]: t for t in (await world.get("/appointment-types")).json()}
    dyad = types["mdma_dosing"]
    alone = await world.http.put(
        "/appointment-types/mdma_dosing",
        json={**dyad, "required_roles": [{"role": "therapist", "count": 1}]},
        headers=world.headers(),
    )
    assert alone.status_code == 422, alone.text
    assert {c["code"] for c in alone.json()["failed_conditions"]} == {"floor_clinicians"}
    assert "MAPP" in alone.text
    short = await world.http.put(
        "/appointment-types/esketamine_dosing",
        json={**types["esketamine_dosing"], "duration_minutes": 60},
        headers=world.headers(),
    )
    assert short.status_code == 422, short.text
    assert "REMS" in short.text, short.text
    assert (await world.get("/appointment-types")).json() == list(types.values())

    await consent("active")
    await screening("scr-1", True, 0)
    first_prep = next_weekday(0, time(9, 0))
    for n in range(3):
        prep = await world.book(
            "cl", "mdma_preparation", first_prep + timedelta(days=n), ["tess"], office
        )
        for step in ("check-in", "start", "complete"):
            done = await world.post(f"/appointments/{prep.json()['id']}/{step}")
            assert done.status_code == 200, done.text
    booked = await world.book(
        "cl", "mdma_dosing", first_prep + timedelta(days=7), ["tess", "uma"], dosing_room
    )
    assert booked.status_code == 201, booked.text
    dosing = booked.json()["id"]

    # Consent revoked: the session is flagged, its clinicians told, check-in refused.
    await consent("revoked")
    flagged = await world.until_ok(f"/appointments/{dosing}", lambda b: b["gate_flags"])
    assert flagged["gate_flags"] == ["informed_consent"]
    told = await world.read_topic(
        "scheduling.appointment.v1",
        until=lambda es: any(e["type"].endswith("dosing_session.flagged.v1") for e in es),
    )
    [notice] = [e for e in told if e["type"].endswith("dosing_session.flagged.v1")]
    assert set(notice["data"]["clinician_ids"]) == {"tess", "uma"}
    refused = await world.post(f"/appointments/{dosing}/check-in")
    assert refusal(refused, "session-refused") == {"informed_consent"}
    # The original signing redelivered late: a revoked consent stays revoked.
    await world.publish(
        ConsentChanged(
            consent_id="consent-1",
            client_id="cl",
            kind="psychedelic_informed",
            protocol_id="mdma-ptsd",
            status="active",
            effective_at=now,
        )
    )

    # A later screening finds the client ineligible: both conditions named at once.
    await screening("scr-2", False, 5)
    await world.until_ok(f"/appointments/{dosing}", lambda b: len(b["gate_flags"]) == 2)
    refused = await world.post(f"/appointments/{dosing}/check-in")
    assert refusal(refused, "session-refused") == {"informed_consent", "eligible_screening"}
    assert (await world.get(f"/appointments/{dosing}")).json()["status"] == "booked"

    # Restored: a new consent and an eligible re-screening; the flag clears.
    await consent("active", "consent-2")
    await screening("scr-3", True, 10)
    await world.until_ok(f"/appointments/{dosing}", lambda b: b["gate_flags"] == [])
    # Checked in with only Tess in the room: fine; starting without Uma is not.
    checked = await world.post(f"/appointments/{dosing}/check-in", {"present_staff_ids": ["tess"]})
    assert checked.status_code == 200, checked.text
    assert checked.json()["present_staff_ids"] == ["tess"]
    early = await world.post(f"/appointments/{dosing}/start")
    assert refusal(early, "session-refused") == {"clinicians_present"}
    assert "2 therapist(s)" in early.text
    stranger = await world.post(f"/appointments/{dosing}/start", {"present_staff_ids": ["zed"]})
    assert "present_staff" in refusal(stranger, "session-refused")
    started = await world.post(
        f"/appointments/{dosing}/start", {"present_staff_ids": ["tess", "uma"]}
    )
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "started"
    # Discharged minutes after starting: the protocol's monitoring has not passed.
    finished = await world.post(f"/appointments/{dosing}/complete")
    assert refusal(finished, "session-refused") == {"monitoring_minutes"}

    # Tightening is the agency's to choose: both therapists licensed.
    tighter = await world.http.put(
        "/appointment-types/mdma_dosing",
        json={**dyad, "licensed_clinicians_required": 2},
        headers=world.headers(),
    )
    assert tighter.status_code == 200, tighter.text


async def test_every_read_of_client_data_is_audited(world: World) -> None:
    """Issue 18, item 10: every GET route (enumerated from the app's wiring, so a new one
    is walked too) that returns a client's data leaves an access audit entry."""
    from halcyon.scheduling.app import wiring
    from halcyon.shared.testing.audit_walk import audited_request_ids, get_routes, walk

    await world.site()
    await world.staff("ana")
    await world.client("client-walk")
    office = await world.room("Office", ["office"])
    ten = next_weekday(1, time(10, 0))
    booked = await world.book("client-walk", "psychotherapy", ten, ["ana"], office)
    assert booked.status_code == 201, booked.text
    appointment = booked.json()["id"]
    entry = await world.post(
        "/waitlist",
        {"client_id": "client-walk", "site_id": SITE, "appointment_type": "psychotherapy"},
    )
    assert entry.status_code == 201, entry.text
    day = ten.date().isoformat()
    template = {"site_id": SITE, "weekly": [{"weekday": 1, "start": "08:00", "end": "18:00"}]}
    put = await world.http.put(
        "/clinicians/ana/availability", json=template, headers=world.headers()
    )
    assert put.status_code == 200, put.text
    hours = {"windows": [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(5)]}
    put = await world.http.put(f"/sites/{SITE}/opening-hours", json=hours, headers=world.headers())
    assert put.status_code == 200, put.text
    calls = {
        "/clients/{client_id}": "/clients/client-walk",
        "/clients/{client_id}/protocols/{protocol_id}/readiness": (
            "/clients/client-walk/protocols/mdma-ptsd/readiness"
        ),
        "/sites/{site_id}": f"/sites/{SITE}",
        "/rooms": f"/rooms?site_id={SITE}",
        "/appointment-types": "/appointment-types",
        "/protocols": "/protocols",
        "/clinicians/{staff_id}/availability": f"/clinicians/ana/availability?site_id={SITE}",
        "/clinicians/{staff_id}": "/clinicians/ana",
        "/appointments/{appointment_id}": f"/appointments/{appointment}",
        "/appointments": f"/appointments?site_id={SITE}&from_date={day}&to_date={day}",
        "/free-slots": (
            f"/free-slots?site_id={SITE}&appointment_type=psychotherapy"
            f"&from_date={day}&to_date={day}"
        ),
        "/waitlist": f"/waitlist?site_id={SITE}",
        "/waitlist/{entry_id}": f"/waitlist/{entry.json()['id']}",
    }
    # Attendance rates are counts per site, clinician and type: no client in them.
    aggregate_only = {"/reports/attendance"}
    assert sorted(get_routes(wiring) - set(calls) - aggregate_only) == [], "walk new GET routes"
    made = await walk(world.http, {route: (url, world.headers()) for route, url in calls.items()})
    assert made.failures() == {}, "\n".join(f"{k}: {v}" for k, v in made.failures().items())
    # A read is of client data when it names the client or its answer carries them.
    reads = made.reads_of(["client-walk", appointment])
    assert {
        "/clients/{client_id}",
        "/appointments/{appointment_id}",
        "/appointments",
        "/waitlist",
        "/waitlist/{entry_id}",
    } <= set(reads.values())
    found = await audited_request_ids(
        world.servers.kafka_bootstrap, world.prefix + "audit.access.v1", reads
    )
    missing = sorted(route for rid, route in reads.items() if rid not in found)
    assert missing == [], f"reads of client data without an audit entry: {missing}"


async def day_long_type(world: World) -> None:
    """An agency's own 8-hour type for two therapists in any room (no protocol gating)."""
    body = {
        "code": "retreat_day",
        "name": "Retreat day",
        "duration_minutes": 8 * 60,
        "required_roles": [{"role": "therapist", "count": 2}],
    }
    response = await world.http.put(
        "/appointment-types/retreat_day", json=body, headers=world.headers()
    )
    assert response.status_code == 200, response.text


async def test_an_eight_hour_session_holds_at_most_twenty_claims(world: World) -> None:
    await world.site()
    for staff_id in ("ana", "ben"):
        await world.staff(staff_id)
    await world.client("c1")
    await day_long_type(world)
    room = await world.room("Hall", ["office"])
    nine = next_weekday(2, time(9, 0))
    week = [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(5)]
    for path, body in (
        (f"/sites/{SITE}/opening-hours", {"windows": week}),
        ("/clinicians/ana/availability", {"site_id": SITE, "weekly": week}),
    ):
        r = await world.http.put(path, json=body, headers=world.headers())
        assert r.status_code == 200, r.text
    assert "13:00" in await starts(world, nine)

    booked = await world.book("c1", "retreat_day", nine, ["ana", "ben"], room)
    assert booked.status_code == 201, booked.text
    # client, two therapists and a room for 96 five-minute buckets: 384 claims before
    assert await world.count("slot_claims") <= 20
    # every minute of the day is still held: a short session inside it is refused
    inside = await world.book("c1", "psychotherapy", nine + timedelta(hours=6, minutes=5), [], None)
    assert inside.status_code in (409, 422), inside.text
    for at in (timedelta(minutes=5), timedelta(hours=3, minutes=35), timedelta(hours=7)):
        clash = await world.book("c2", "psychotherapy", nine + at, ["ben"], None)
        assert clash.status_code in (409, 422), clash.text
    assert not [s for s in await starts(world, nine) if "09:00" <= s < "17:00"]
    # Cancelling frees every block at once.
    cancelled = await world.post(f"/appointments/{booked.json()['id']}/cancel", {"reason": "x"})
    assert cancelled.status_code == 200, cancelled.text
    assert await world.count("slot_claims") == 0
    assert "13:00" in await starts(world, nine)


async def starts(world: World, on: datetime) -> list[str]:
    """Ana's free psychotherapy starts that day, local HH:MM."""
    r = await world.get(
        "/free-slots",
        site_id=SITE,
        appointment_type="psychotherapy",
        from_date=on.date().isoformat(),
        to_date=on.date().isoformat(),
        clinician_id=["ana"],
        limit=200,
    )
    assert r.status_code == 200, r.text
    return [s["starts_at_local"][11:16] for s in r.json()["slots"]]


async def test_long_and_short_sessions_racing_for_overlapping_time_exactly_one_wins(
    world: World,
) -> None:
    """A day-long session holds 4-hour and 1-hour blocks, a 53-minute one 5- and
    15-minute blocks: no shared id, so only the look after the insert separates them."""
    await world.site()
    for staff_id in ("ana", "ben", "cy"):
        await world.staff(staff_id)
    clients = [f"c{i}" for i in range(8)]
    for client_id in clients:
        await world.client(client_id)
    await day_long_type(world)
    rooms = [await world.room(f"Room {i}", ["office"]) for i in range(8)]
    day = next_weekday(3, time(9, 0))

    for round_ in range(3):
        nine = day + timedelta(days=7 * round_)
        shorts = [timedelta(hours=h, minutes=m) for h, m in ((0, 0), (1, 5), (3, 40), (6, 55))]
        responses = await asyncio.gather(
            world.book(clients[0], "retreat_day", nine, ["ana", "ben"], rooms[0]),
            *[
                world.book(clients[i + 1], "psychotherapy", nine + at, ["ana"], rooms[i + 1])
                for i, at in enumerate(shorts)
            ],
        )
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {201, 409}, [r.text for r in responses]
        long_won, shorts_won = statuses[0] == 201, statuses[1:].count(201)
        # never both the day and a session inside it, and never nobody (a short one
        # may also step back for the day that then steps back for another: ADR 0400)
        assert long_won != (shorts_won > 0), statuses
        held = [c async for c in world.db["slot_claims"].find({"tenant_id": world.tenant})]
        ana = [
            c
            for c in held
            if c["resource"] == "clinician:ana" and nine <= c["bucket"] < nine + timedelta(hours=8)
        ]
        owners = {c["appointment_id"] for c in ana}
        assert len(owners) == (1 if long_won else shorts_won), ana
        winners = {r.json()["id"] for r in responses if r.status_code == 201}
        assert owners == winners
