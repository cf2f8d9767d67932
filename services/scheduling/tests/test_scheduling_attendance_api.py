"""The attendance dashboard on a real scheduling process (real Kafka and FerretDB):
appointments booked and changed through the API, figures checked against a hand count."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from services.scheduling.tests.test_scheduling_booking import (  # noqa: F401 (fixture)
    DENVER,
    SITE,
    World,
    next_weekday,
    world,
)

pytestmark = pytest.mark.integration


async def test_attendance_rates_equal_a_hand_count(world: World) -> None:  # noqa: F811
    await world.site()
    await world.staff("ana")
    await world.staff("ben")
    for client_id in ("c1", "c2", "c3", "c4"):
        await world.client(client_id)
    office = await world.room("Office", ["office"])
    start = next_weekday(2, time(9, 0))

    async def booked(client: str, kind: str, at: datetime, who: str, room: str | None) -> str:
        response = await world.book(client, kind, at, [who], room)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    kept = await booked("c1", "psychotherapy", start, "ana", office)
    for step in ("check-in", "start", "complete"):
        assert (await world.post(f"/appointments/{kept}/{step}")).status_code == 200
    missed = await booked("c2", "psychotherapy", start + timedelta(hours=2), "ana", office)
    assert (await world.post(f"/appointments/{missed}/no-show")).status_code == 200
    # A week's notice: the slot went back, so it is not counted at all.
    timely = await booked("c3", "psychotherapy", start + timedelta(days=1), "ben", office)
    r = await world.post(f"/appointments/{timely}/cancel", {"reason": "moving"})
    assert r.status_code == 200
    assert r.json()["late_cancel"] is False
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=3)
    late = await booked("c4", "psychotherapy", soon, "ben", office)
    r = await world.post(f"/appointments/{late}/cancel", {"reason": "car broke down"})
    assert r.status_code == 200
    assert r.json()["late_cancel"] is True
    await booked("c1", "telehealth_psychotherapy", start + timedelta(days=2), "ben", None)

    period = {
        "site_id": SITE,
        "from": (datetime.now(DENVER).date() - timedelta(days=1)).isoformat(),
        "to": (start.date() + timedelta(days=7)).isoformat(),
    }
    r = await world.get("/reports/attendance", **period)
    assert r.status_code == 200, r.text
    got = {
        (row["dimension"], row["key"]): (
            row["held"],
            row["no_shows"],
            row["late_cancels"],
            row["no_show_rate_pct"],
            row["late_cancel_rate_pct"],
        )
        for row in r.json()["rows"]
    }
    # Held: kept, missed, late, the booked video visit = 4 (the timely cancel is not held).
    assert got == {
        ("site", SITE): (4, 1, 1, "25.0", "25.0"),
        ("clinician", "ana"): (2, 1, 0, "50.0", "0.0"),
        ("clinician", "ben"): (2, 0, 1, "0.0", "50.0"),
        ("appointment_type", "psychotherapy"): (3, 1, 1, "33.3", "33.3"),
        ("appointment_type", "telehealth_psychotherapy"): (1, 0, 0, "0.0", "0.0"),
    }

    csv = await world.get("/reports/attendance", **period, format="csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("dimension,key,held,no_shows,late_cancels")
    assert f"site,{SITE},4,1,1,25.0,25.0" in lines

    therapist = world.issuer.headers(tenant_id=world.tenant, roles=[(SITE, "therapist")])
    refused = await world.http.get("/reports/attendance", params=period, headers=therapist)
    assert refused.status_code == 403
    backwards = await world.get(
        "/reports/attendance", site_id=SITE, **{"from": period["to"], "to": period["from"]}
    )
    assert backwards.status_code == 422
    assert backwards.headers["content-type"].startswith("application/problem+json")
