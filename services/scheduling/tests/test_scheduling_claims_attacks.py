"""Attacks on the block claims of ADR 0400 (revision for issue 20), on the real service
process and real FerretDB.

Written by a reviewer who did not write the claims, to break them; the four that
found bugs (two reschedules of one appointment, the dosing window across a DST change,
a partly overlapping leftover, slow refusals beside a booked group) pass since the fix.
One service process serves the whole module; every test has its own tenant, so they do
not see each other's data.
"""

from __future__ import annotations

import asyncio
import time as clock
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from halcyon.scheduling.domain.calendar import Interval, blocks, buckets
from halcyon.scheduling.store import SlotClaims
from halcyon.shared.contracts.clinical import ConsentChanged, ScreeningCompleted
from halcyon.shared.contracts.identity import Licence, StaffMemberChanged
from halcyon.shared.mongo import Document
from halcyon.shared.testing.processes import ServiceProcess
from halcyon.shared.testing.servers import Servers, repo_root
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

# The tests dir is not on mypy_path (root pyproject); pytest imports it (rootdir mode).
from test_scheduling_booking import DENVER, SITE, World  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration
LIVE = ["booked", "checked_in", "started"]


# -- one service process for the module, a fresh tenant per test ---------------------


class AttackWorld(World):  # type: ignore[misc]
    """A World whose site, staff and client ids carry a suffix of its own: the read
    models are keyed by those ids (globally unique in production), and one database
    serves every test of this module."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.sfx = uuid.uuid4().hex[:6]

    def n(self, name: str) -> str:
        return f"{name}-{self.sfx}"

    async def site(self, site_id: str = SITE, tz: str = "America/Denver") -> None:
        await super().site(self.n(site_id), tz)

    async def staff(self, staff_id: str, *, site_id: str = SITE, **kw: Any) -> None:
        await super().staff(self.n(staff_id), site_id=self.n(site_id), **kw)

    async def client(self, client_id: str, site_id: str = SITE) -> None:
        await super().client(self.n(client_id), self.n(site_id))

    async def room(self, name: str, attributes: list[str], site_id: str = SITE) -> str:
        return str(await super().room(name, attributes, self.n(site_id)))

    async def book(
        self,
        client_id: str,
        kind: str,
        starts_at: datetime,
        clinicians: list[str],
        room_id: str | None,
        site_id: str = SITE,
    ) -> httpx.Response:
        response: httpx.Response = await super().book(
            self.n(client_id),
            kind,
            starts_at,
            [self.n(c) for c in clinicians],
            room_id,
            self.n(site_id),
        )
        return response


@pytest.fixture(scope="module")
def shared_service(
    servers: Servers, token_issuer: TestTokenIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, str, str]]:
    unique = uuid.uuid4().hex[:10]
    prefix = f"t{uuid.uuid4().hex[:10]}."
    log_dir: Path = tmp_path_factory.mktemp("claims-attacks")
    env = {
        "HALCYON_ENVIRONMENT": "test",
        "HALCYON_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "HALCYON_MONGO_URL": servers.mongo_url,
        "HALCYON_TOPIC_PREFIX": prefix,
        "HALCYON_JWT_PUBLIC_KEY": token_issuer.public_pem,
        "HALCYON_SPAN_FILE": str(log_dir / "spans.jsonl"),
        "HALCYON_LOG_LEVEL": "INFO",
        "HALCYON_SCHEDULING_DATABASE_NAME": f"t_{unique}_scheduling",
        "HALCYON_SCHEDULING_CONSUMER_GROUP": f"halcyon-scheduling-{unique}",
        "PYTHONPATH": str(repo_root()),
    }
    process = ServiceProcess("scheduling", env, log_dir).start()
    process.wait_ready()
    yield process, prefix, unique
    process.kill()


@pytest_asyncio.fixture
async def world(
    shared_service: tuple[ServiceProcess, str, str],
    servers: Servers,
    token_issuer: TestTokenIssuer,
    mongo_client: AsyncMongoClient[Document],
) -> AsyncIterator[World]:
    service, prefix, unique = shared_service
    w = AttackWorld(service, servers, token_issuer, prefix, mongo_client[f"t_{unique}_scheduling"])
    await w.producer.start()
    try:
        yield w
    finally:
        await w.producer.stop()
        await w.http.aclose()


# -- helpers -------------------------------------------------------------------------

# A far-enough Monday (UTC) in winter: Denver is UTC-7 then.
BASE = datetime(2027, 1, 4, tzinfo=UTC)


async def setup(
    world: World,
    staff: tuple[str, ...] = ("ana", "ben"),
    clients: int = 4,
    rooms: int = 4,
    room_attribute: str = "office",
) -> list[str]:
    await world.site()
    await asyncio.gather(*[world.staff(s) for s in staff])
    await asyncio.gather(*[world.client(f"c{i}") for i in range(clients)])
    return [await world.room(f"Room {i}", [room_attribute]) for i in range(rooms)]


async def put_type(world: World, code: str, minutes: int, therapists: int = 1) -> None:
    body = {
        "code": code,
        "name": code,
        "duration_minutes": minutes,
        "required_roles": [{"role": "therapist", "count": therapists}],
    }
    response = await world.http.put(
        f"/appointment-types/{code}", json=body, headers=world.headers()
    )
    assert response.status_code == 200, response.text


async def reschedule(
    world: World, appointment_id: str, at: datetime, **extra: Any
) -> httpx.Response:
    response: httpx.Response = await world.post(
        f"/appointments/{appointment_id}/reschedule", {"starts_at": at.isoformat(), **extra}
    )
    return response


async def cancel(world: World, appointment_id: str) -> None:
    response = await world.post(f"/appointments/{appointment_id}/cancel", {"reason": "x"})
    assert response.status_code == 200, response.text


async def claims_of(world: World) -> dict[str, Document]:
    return {c["_id"]: c async for c in world.db["slot_claims"].find({"tenant_id": world.tenant})}


async def violations(world: World) -> list[str]:
    """Double bookings among live appointments, and live appointments missing a claim
    of their own time (then a later booking can take that time: a double booking)."""
    live = [
        a
        async for a in world.db["appointments"].find(
            {"tenant_id": world.tenant, "status": {"$in": LIVE}}
        )
    ]
    claims = await claims_of(world)
    out: list[str] = []
    taken: dict[tuple[str, datetime], set[str]] = {}
    for a in live:
        interval = Interval(a["starts_at"], a["ends_at"])
        group = a.get("group_session_id")
        owned = [(f"client:{a['client_id']}", a["_id"])]
        owned += [(f"clinician:{c}", group or a["_id"]) for c in a["clinician_ids"]]
        if a.get("room_id"):
            owned.append((f"room:{a['room_id']}", group or a["_id"]))
        for resource, owner in owned:
            for b in buckets(interval):
                taken.setdefault((resource, b), set()).add(owner)
            for block in blocks(interval):
                cid = SlotClaims.claim_id(world.tenant, resource, block)
                held = claims.get(cid)
                if held is None or held["appointment_id"] != owner:
                    out.append(f"{a['_id']} ({a['starts_at']:%H:%M}) lacks claim {cid}: {held}")
    for (resource, b), owners in sorted(taken.items()):
        if len(owners) > 1:
            out.append(f"double booking of {resource} at {b:%Y-%m-%d %H:%M}: {sorted(owners)}")
    return out


# ------------------------------------------------------------------------------------
# 1. Races of long and short sessions at odd offsets across 4-hour and midnight UTC
#    boundaries, on a DST day in Denver.
# ------------------------------------------------------------------------------------


async def test_long_and_short_sessions_at_odd_offsets_across_boundaries_never_overlap(
    world: World,
) -> None:
    """Holds: never two live appointments on one resource at once, and every winner
    keeps every claim of its time."""
    rooms = await setup(world, clients=10, rooms=10)
    await put_type(world, "retreat_day", 8 * 60, therapists=2)
    await put_type(world, "half_day", 245)
    await put_type(world, "huddle", 5)
    await put_type(world, "odd", 17)
    # 2027-03-14: Denver springs forward at 02:00 local (09:00 UTC).
    days = [datetime(2027, 3, 14, tzinfo=UTC), datetime(2027, 3, 15, tzinfo=UTC)]
    plan = [
        # (type, offset from 21:00 UTC, clinicians)
        ("retreat_day", timedelta(hours=-1, minutes=-7), ["ana", "ben"]),  # 19:53 → 03:53
        ("half_day", timedelta(hours=2, minutes=59), ["ana"]),  # 23:59 → 04:04 (crosses 00 and 04)
        ("huddle", timedelta(hours=3), ["ana"]),  # 00:00 UTC exactly
        ("odd", timedelta(hours=6, minutes=47), ["ben"]),  # 03:47 → 04:04
        ("psychotherapy", timedelta(minutes=3), ["ana"]),
        ("intake", timedelta(hours=-1, minutes=-2), ["ben"]),  # 19:58, into the retreat
        ("odd", timedelta(hours=6, minutes=58), ["ana"]),  # 03:58 → 04:15
        ("huddle", timedelta(hours=7, minutes=1), ["ben"]),  # 04:01 (4h boundary)
        ("psychotherapy", timedelta(hours=2, minutes=13), ["ben"]),
    ]
    for day in days:
        for round_ in range(2):
            anchor = day + timedelta(hours=21) + timedelta(days=2 * round_)
            responses = await asyncio.gather(
                *[
                    world.book(f"c{i}", kind, anchor + at, who, rooms[i])
                    for i, (kind, at, who) in enumerate(plan)
                ]
            )
            assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
            assert [r.status_code for r in responses].count(201) >= 2, [r.text for r in responses]
            # the same clients in some sessions: the client is a contended resource too
            extra = await asyncio.gather(
                world.book(
                    "c0", "huddle", anchor + timedelta(hours=3, minutes=30), ["ben"], rooms[9]
                ),
                world.book("c1", "odd", anchor + timedelta(hours=-1), ["ben"], rooms[8]),
            )
            assert {r.status_code for r in extra} <= {201, 409}, [r.text for r in extra]
    assert await violations(world) == []


# ------------------------------------------------------------------------------------
# 2. Two reschedules of one appointment at once (a user's retry of a slow one).
# ------------------------------------------------------------------------------------


async def test_two_reschedules_of_one_appointment_keep_its_claims(world: World) -> None:
    """BUG. A reschedule skips the blocks its appointment already "holds" (held_by), but
    some of those may be another in-flight reschedule's provisional claims (same owner
    id). Here R2 claims 21:30-22:25 UTC and, being older than the booking Y it overlaps
    through a different block size, waits up to 2 s (YIELD_WAIT_S) for Y to step back.
    Meanwhile R1 moves the appointment to 20:50-21:43, skips the 15-minute block 21:30 it
    sees as already held (R2's), and commits. When R2 gives up it undoes its claims by
    (appointment id, claim id) and deletes block 21:30, which the appointment now relies
    on. The time 21:30-21:43 is then free for anyone: room, clinician and client are
    double booked."""
    r = await setup(world)
    day = BASE + timedelta(days=1)
    a = await world.book("c1", "psychotherapy", day + timedelta(hours=16), ["ana"], r[1])
    assert a.status_code == 201, a.text
    # Y: younger than A, a 1-hour block 22:00 on Ana (not an id R2 also inserts).
    y = await world.book("c2", "intake", day + timedelta(hours=22), ["ana"], r[2])
    assert y.status_code == 201, y.text
    a_id = a.json()["id"]

    async def second_try() -> httpx.Response:
        await asyncio.sleep(0.6)
        return await reschedule(world, a_id, day + timedelta(hours=20, minutes=50))

    slow, quick = await asyncio.gather(
        reschedule(world, a_id, day + timedelta(hours=21, minutes=30)), second_try()
    )
    assert slow.status_code == 409, slow.text  # overlaps Y
    assert quick.status_code == 200, quick.text  # the appointment is now 20:50-21:43 UTC
    # Room 1 is A's from 20:50 to 21:43: a booking of it at 21:30 must be refused.
    clash = await world.book(
        "c3", "psychotherapy", day + timedelta(hours=21, minutes=30), ["ben"], r[1]
    )
    problems = await violations(world)
    assert (clash.status_code, problems) == (409, []), problems


# ------------------------------------------------------------------------------------
# 3. Reschedules racing bookings; a reschedule of a long session by a few minutes.
# ------------------------------------------------------------------------------------


async def test_reschedule_racing_bookings_of_other_sizes_never_double_books(world: World) -> None:
    """Holds: the rescheduled appointment (oldest id) against younger bookings of
    other block sizes around its new time."""
    rooms = await setup(world, clients=8, rooms=8)
    await put_type(world, "retreat_day", 8 * 60, therapists=2)
    await put_type(world, "odd", 17)
    for round_ in range(3):
        day = BASE + timedelta(days=7 + round_)
        a = await world.book("c0", "psychotherapy", day + timedelta(hours=15), ["ana"], rooms[0])
        assert a.status_code == 201, a.text
        target = day + timedelta(hours=18, minutes=7)
        responses = await asyncio.gather(
            reschedule(world, a.json()["id"], target),
            world.book("c1", "retreat_day", day + timedelta(hours=14), ["ana", "ben"], rooms[1]),
            world.book("c2", "odd", target + timedelta(minutes=40), ["ana"], rooms[2]),
            world.book("c3", "intake", day + timedelta(hours=18), ["ben"], rooms[0]),
            world.book("c0", "odd", target + timedelta(minutes=-10), ["ben"], rooms[3]),
            world.book(
                "c4", "psychotherapy", day + timedelta(hours=15, minutes=30), ["ana"], rooms[4]
            ),
        )
        assert {x.status_code for x in responses} <= {200, 201, 409}, [x.text for x in responses]
        assert any(x.status_code in (200, 201) for x in responses), [x.text for x in responses]
    assert await violations(world) == []


async def test_reschedule_long_session_by_minutes_holds_exactly_its_new_blocks(
    world: World,
) -> None:
    """Holds: blocks it already held are kept, the rest released, the new ones taken."""
    r = await setup(world)
    await put_type(world, "retreat_day", 8 * 60, therapists=2)
    await put_type(world, "huddle", 5)
    day = BASE + timedelta(days=14)
    a = await world.book("c1", "retreat_day", day + timedelta(hours=9), ["ana", "ben"], r[1])
    assert a.status_code == 201, a.text
    a_id = a.json()["id"]
    for minutes in (5, 7, -3, 240, 245):
        moved = await reschedule(world, a_id, day + timedelta(hours=9, minutes=minutes))
        assert moved.status_code == 200, (minutes, moved.text)
        start = day + timedelta(hours=9, minutes=minutes)
        interval = Interval(start, start + timedelta(hours=8))
        expected = {
            SlotClaims.claim_id(world.tenant, res, b)
            for res in (
                f"client:{world.n('c1')}",
                f"clinician:{world.n('ana')}",
                f"clinician:{world.n('ben')}",
                f"room:{r[1]}",
            )
            for b in blocks(interval)
        }
        assert set(await claims_of(world)) == expected, minutes
    # Now at 13:05-21:05: 13:00 and 21:05 are free for Ana, 13:05 and 21:00 are not.
    assert (
        await world.book("c2", "huddle", day + timedelta(hours=13), ["ana"], r[2])
    ).status_code == 201
    assert (
        await world.book("c2", "huddle", day + timedelta(hours=21, minutes=5), ["ana"], r[2])
    ).status_code == 201
    for at in (
        timedelta(hours=13, minutes=5),
        timedelta(hours=21),
        timedelta(hours=16, minutes=31),
    ):
        refused = await world.book("c3", "huddle", day + at, ["ana"], r[3])
        assert refused.status_code == 409, (at, refused.text)
    assert await violations(world) == []


async def test_cancel_then_rebook_racing(world: World) -> None:
    """Holds: a cancelled day frees every block; bookings racing for it stay apart."""
    rooms = await setup(world, clients=6, rooms=6)
    await put_type(world, "retreat_day", 8 * 60, therapists=2)
    day = BASE + timedelta(days=15)
    for _ in range(2):
        a = await world.book(
            "c0", "retreat_day", day + timedelta(hours=8), ["ana", "ben"], rooms[0]
        )
        assert a.status_code == 201, a.text
        await cancel(world, a.json()["id"])
        responses = await asyncio.gather(
            world.book(
                "c1", "retreat_day", day + timedelta(hours=8, minutes=1), ["ana", "ben"], rooms[1]
            ),
            *[
                world.book(
                    f"c{i}",
                    "psychotherapy",
                    day + timedelta(hours=8 + i, minutes=7 * i),
                    ["ana"],
                    rooms[i],
                )
                for i in range(2, 6)
            ],
        )
        assert any(x.status_code == 201 for x in responses), [x.text for x in responses]
        assert await violations(world) == []
        for x in responses:
            if x.status_code == 201:
                await cancel(world, x.json()["id"])
    assert await claims_of(world) == {}


# ------------------------------------------------------------------------------------
# 4. Group sessions (claims owned by "group|…", which sorts after every uuid7).
# ------------------------------------------------------------------------------------


async def group_world(world: World) -> tuple[list[str], str]:
    rooms = await setup(world, clients=8, rooms=4)
    response = await world.post(
        "/rooms",
        {"site_id": world.n(SITE), "name": "Circle", "attributes": ["group_room"], "capacity": 4},
    )
    assert response.status_code == 201, response.text
    return rooms, str(response.json()["id"])


async def test_group_session_racing_individual_bookings_never_double_books(world: World) -> None:
    """Holds."""
    rooms, circle = await group_world(world)
    for round_ in range(3):
        at = BASE + timedelta(days=21 + round_, hours=17)
        responses = await asyncio.gather(
            world.book("c0", "group", at, ["ana"], circle),
            world.book("c1", "group", at, ["ana"], circle),
            world.book("c2", "psychotherapy", at + timedelta(minutes=80), ["ana"], rooms[0]),
            world.book("c3", "intake", at - timedelta(minutes=59), ["ana"], rooms[1]),
            world.book("c4", "psychotherapy", at + timedelta(minutes=20), ["ben"], circle),
            world.book("c0", "psychotherapy", at + timedelta(minutes=45), ["ben"], rooms[2]),
        )
        assert {x.status_code for x in responses} <= {201, 409}, [x.text for x in responses]
        assert any(x.status_code == 201 for x in responses), [x.text for x in responses]
    assert await violations(world) == []


async def test_a_booking_colliding_with_a_booked_group_session_is_refused_at_once(
    world: World,
) -> None:
    """BUG (liveness). "group|…" sorts after every uuid7, so a booked group session always
    counts as the *younger* owner: a booking overlapping it through a block of another size
    waits the full 2 s (YIELD_WAIT_S) for a withdrawal that never comes, holding its
    provisional claims meanwhile. A second booking that only overlaps those provisional
    claims is refused (slot-taken) although its time ends up free: both are refused."""
    rooms, circle = await group_world(world)
    at = BASE + timedelta(days=28, hours=17)  # group 17:00-18:30 UTC: blocks 1h, 15m, 15m
    group = await world.book("c0", "group", at, ["ana"], circle)
    assert group.status_code == 201, group.text

    async def timed(delay: float, *args: Any) -> tuple[httpx.Response, float]:
        await asyncio.sleep(delay)
        began = clock.monotonic()
        response = await world.book(*args)
        return response, clock.monotonic() - began

    # 18:20 with Ana overlaps the group's 15-minute block 18:15 (5-minute blocks 18:20,
    # 18:25: no shared id). 18:30 with Ben in the same room overlaps only the first.
    (first, first_took), (second, _) = await asyncio.gather(
        timed(0.0, "c1", "psychotherapy", at + timedelta(minutes=80), ["ana"], rooms[0]),
        timed(0.4, "c2", "psychotherapy", at + timedelta(minutes=90), ["ben"], rooms[0]),
    )
    assert first.status_code == 409, first.text
    assert (first_took < 1.0, second.status_code) == (True, 201), (
        f"refusal took {first_took:.2f}s; second: {second.status_code} {second.text}"
    )


# ------------------------------------------------------------------------------------
# 5. Dosing windows.
# ------------------------------------------------------------------------------------


async def dosing_world(world: World, clients: list[str]) -> str:
    await world.site()
    await asyncio.gather(world.staff("tess"), world.staff("uma"))
    dosing_room = await world.room("Dosing suite", ["dosing_room"])
    office = await world.room("Office", ["office"])
    now = datetime.now(UTC)
    first_prep = datetime.combine(date.today() + timedelta(days=8), time(15), tzinfo=UTC)
    for n, client_id in enumerate(clients):
        await world.client(client_id)
        await world.publish(
            ConsentChanged(
                consent_id=f"consent-{world.n(client_id)}",
                client_id=world.n(client_id),
                kind="psychedelic_informed",
                protocol_id="mdma-ptsd",
                status="active",
                effective_at=now,
            )
        )
        await world.publish(
            ScreeningCompleted(
                screening_id=f"scr-{world.n(client_id)}",
                client_id=world.n(client_id),
                protocol_id="mdma-ptsd",
                eligible=True,
                signed_by="dr-p",
                signed_at=now,
            )
        )
        await world.until_ok(
            f"/clients/{world.n(client_id)}/protocols/mdma-ptsd/readiness",
            lambda b: b["informed_consent"] and b["eligible_screening"] is True,
        )
        for k in range(3):
            at = first_prep + timedelta(days=k, hours=2 * n)
            prep = await world.book(client_id, "mdma_preparation", at, ["tess"], office)
            assert prep.status_code == 201, prep.text
            for step in ("check-in", "start", "complete"):
                done = await world.post(f"/appointments/{prep.json()['id']}/{step}")
                assert done.status_code == 200, done.text
    return str(dosing_room)


def denver(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=DENVER)


async def test_dosing_sessions_27_days_apart_racing_only_one_stands(world: World) -> None:
    """Holds: 27 local days apart, the two windows of 28 days share a day."""
    room = await dosing_world(world, ["cl"])
    for round_ in range(3):
        first = date(2027, 5, 3) + timedelta(days=round_)
        racing = await asyncio.gather(
            world.book("cl", "mdma_dosing", denver(first, 9), ["tess", "uma"], room),
            world.book(
                "cl", "mdma_dosing", denver(first + timedelta(days=27), 9), ["tess", "uma"], room
            ),
        )
        statuses = sorted(x.status_code for x in racing)
        assert statuses == [201, 422], [x.text for x in racing]
        for x in racing:
            if x.status_code == 201:
                await cancel(world, x.json()["id"])


async def test_dosing_sessions_under_28_days_apart_cannot_both_stand(world: World) -> None:
    """BUG. The read-model check refuses two dosing sessions less than 28 days apart as
    instants (abs(s - starts_at) < 28 days, domain/gating.py), but the dosing-window
    claim holds 28 *local dates* from the session's date. 09:00 on 2027-03-04 and 09:00 on
    2027-04-01 in Denver are 28 dates but 27 days 23 hours apart (DST began 03-14): booked
    one after the other the second is refused (dosing_interval); booked at the same time
    both pass the check (neither sees the other yet) and their windows share no day, so
    both stand. The claim does not close the race it is there to close."""
    room = await dosing_world(world, ["cl"])
    first, later = date(2027, 3, 4), date(2027, 4, 1)
    one = await world.book("cl", "mdma_dosing", denver(first, 9), ["tess", "uma"], room)
    assert one.status_code == 201, one.text
    refused = await world.book("cl", "mdma_dosing", denver(later, 9), ["tess", "uma"], room)
    assert refused.status_code == 422, refused.text  # the rule, one after the other
    assert "dosing_interval" in refused.text
    await cancel(world, one.json()["id"])
    outcomes = []
    for round_ in range(3):
        racing = await asyncio.gather(
            world.book(
                "cl",
                "mdma_dosing",
                denver(first + timedelta(days=round_), 9),
                ["tess", "uma"],
                room,
            ),
            world.book(
                "cl",
                "mdma_dosing",
                denver(later + timedelta(days=round_), 9),
                ["tess", "uma"],
                room,
            ),
        )
        outcomes.append(sorted(x.status_code for x in racing))
        for x in racing:
            if x.status_code == 201:
                await cancel(world, x.json()["id"])
    assert [201, 201] not in outcomes, outcomes


# ------------------------------------------------------------------------------------
# 6. Orphaned claims, old-format claims, free-slot search, tenants.
# ------------------------------------------------------------------------------------


async def test_a_lost_release_of_a_partly_overlapping_block_is_taken_over(world: World) -> None:
    """BUG (crash safety). ADR 0400 step 5: a claim "outside the appointment's current
    time (a reschedule's leftover, older than 2 minutes)" is recognised as orphaned and
    taken over. With blocks, a leftover block that overlaps the current time only in part
    is never orphaned (orphaned() tests the whole block against the appointment), so the
    part outside stays blocked for good. Here a 4-hour session 08:00-12:00 UTC (one 4-hour
    block) is moved to 09:00-13:00 and the release of the old block is lost (a crash
    after the update): 08:00-09:00 can never be booked again for Ana."""
    r = await setup(world)
    await put_type(world, "four_hours", 240)
    day = BASE + timedelta(days=35)
    a = await world.book("c1", "four_hours", day + timedelta(hours=8), ["ana"], r[1])
    assert a.status_code == 201, a.text
    claims = await claims_of(world)
    leftover = next(c for c in claims.values() if c["resource"] == f"clinician:{world.n('ana')}")
    assert leftover["span_minutes"] == 240
    moved = await reschedule(world, a.json()["id"], day + timedelta(hours=9))
    assert moved.status_code == 200, moved.text
    # The crash: the old block's release never happened (it was claimed long ago).
    await world.db["slot_claims"].insert_one(
        {**leftover, "claimed_at": datetime.now(UTC) - timedelta(minutes=30)}
    )
    free_hour = await world.book("c2", "intake", day + timedelta(hours=8), ["ana"], r[2])
    assert free_hour.status_code == 201, free_hour.text


async def test_old_format_claims_still_block_every_size(world: World) -> None:
    """Holds: per-bucket claims written before the revision (no span_minutes, no +NNm)
    block bookings of every block size, show as busy in the search, are kept or released
    correctly by a reschedule, and go with a cancel."""
    r = await setup(world)
    await put_type(world, "retreat_day", 8 * 60, therapists=2)
    week = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]
    hours = await world.http.put(
        f"/sites/{world.n(SITE)}/opening-hours", json={"windows": week}, headers=world.headers()
    )
    assert hours.status_code == 200, hours.text
    day = BASE + timedelta(days=42)
    start = day + timedelta(hours=16)  # 09:00 in Denver
    a = await world.book("c1", "psychotherapy", start, ["ana"], r[1])
    assert a.status_code == 201, a.text
    a_id = a.json()["id"]
    await world.db["slot_claims"].delete_many({"tenant_id": world.tenant})
    old = [
        {
            "_id": f"{world.tenant}|{res}|{b.strftime('%Y%m%dT%H%M')}",
            "tenant_id": world.tenant,
            "resource": res,
            "bucket": b,
            "appointment_id": a_id,
            "claimed_at": datetime.now(UTC) - timedelta(days=3),
        }
        for res in (f"client:{world.n('c1')}", f"clinician:{world.n('ana')}", f"room:{r[1]}")
        for b in buckets(Interval(start, start + timedelta(minutes=53)))
    ]
    await world.db["slot_claims"].insert_many(old)
    attempts = [
        ("c2", "retreat_day", day + timedelta(hours=12), ["ana", "ben"], r[2]),  # 4h blocks
        ("c3", "intake", start, ["ben"], r[1]),  # a 1-hour block on the room
        ("c1", "psychotherapy", start + timedelta(minutes=30), ["ben"], r[3]),  # the client
        ("c2", "intake", start - timedelta(minutes=15), ["ana"], r[2]),
    ]
    for args in attempts:
        refused = await world.book(*args)
        assert refused.status_code == 409, (args, refused.text)
    search = await world.get(
        "/free-slots",
        site_id=world.n(SITE),
        appointment_type="psychotherapy",
        from_date=start.astimezone(DENVER).date().isoformat(),
        to_date=start.astimezone(DENVER).date().isoformat(),
        clinician_id=[world.n("ana")],
        limit=200,
    )
    assert search.status_code == 200, search.text
    local = [s["starts_at_local"][11:16] for s in search.json()["slots"]]
    assert not {"08:15", "09:00", "09:45"} & set(local), local
    assert {"08:00", "10:00"} <= set(local), local
    moved = await reschedule(world, a_id, start + timedelta(minutes=10))
    assert moved.status_code == 200, moved.text
    assert await violations(world) == []
    await cancel(world, a_id)
    assert await claims_of(world) == {}
    assert (await world.book(*attempts[1])).status_code == 201


async def test_free_slot_search_sees_a_block_that_starts_before_the_window(world: World) -> None:
    """Holds: Ana's 4-hour block 04:00-08:00 UTC (booked at a UTC site) reaches into
    Denver's day from its midnight (07:00 UTC) to 01:00."""
    await world.site()
    await world.site("site-utc", tz="Etc/UTC")
    roles = [
        {"site": world.n(SITE), "role": "therapist"},
        {"site": world.n("site-utc"), "role": "therapist"},
    ]
    await world.publish(
        StaffMemberChanged(
            staff_id=world.n("ana"),
            display_name="Ana",
            roles=roles,
            licences=[Licence(type="LCSW", number="L", state="CO", expires_on=date(2030, 1, 1))],
        )
    )
    await world.until_ok(f"/clinicians/{world.n('ana')}", lambda b: len(b["roles"]) == 2)
    await world.client("c1")
    await put_type(world, "four_hours", 240)
    utc_room = await world.room("UTC room", ["office"], site_id="site-utc")
    week = [{"weekday": d, "start": "00:00", "end": "06:00"} for d in range(7)]
    hours = await world.http.put(
        f"/sites/{world.n(SITE)}/opening-hours", json={"windows": week}, headers=world.headers()
    )
    assert hours.status_code == 200, hours.text
    day = BASE + timedelta(days=43)
    booked = await world.book(
        "c1", "four_hours", day + timedelta(hours=4), ["ana"], utc_room, site_id="site-utc"
    )
    assert booked.status_code == 201, booked.text
    search = await world.get(
        "/free-slots",
        site_id=world.n(SITE),
        appointment_type="telehealth_psychotherapy",
        from_date=day.date().isoformat(),
        to_date=day.date().isoformat(),
        clinician_id=[world.n("ana")],
        limit=200,
    )
    assert search.status_code == 200, search.text
    local = [s["starts_at_local"][11:16] for s in search.json()["slots"]]
    assert local[:2] == ["01:00", "01:15"], local
