"""Unit tests of scheduling's pure rules (no servers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from halcyon.scheduling.domain.appointments import (
    exceeds_authorization,
    is_late_cancel,
    next_status,
)
from halcyon.scheduling.domain.calendar import (
    Busy,
    ClinicianCalendar,
    DateException,
    Interval,
    Recurrence,
    RoomOption,
    WeeklyWindow,
    buckets,
    days_between,
    expand_series,
    free_slots,
    within_windows,
)
from halcyon.scheduling.domain.catalog import DEFAULT_PROTOCOLS, DEFAULT_TYPES
from halcyon.scheduling.domain.gating import (
    ClientProtocolFacts,
    ClinicianFact,
    ConsentFact,
    LicenceFact,
    ScreeningFact,
    check_clinicians,
    check_protocol,
    integration_proposals,
)
from halcyon.shared.errors import Conflict
from pydantic import ValidationError

DENVER = ZoneInfo("America/Denver")
NEW_YORK = ZoneInfo("America/New_York")
MDMA = DEFAULT_PROTOCOLS["mdma-ptsd"]
DOSING = DEFAULT_TYPES["mdma_dosing"]


# -- calendar ------------------------------------------------------------------------


def test_weekly_series_keeps_local_wall_clock_across_the_dst_change() -> None:
    # US DST ends Sunday 1 Nov 2026: 10:00 MDT is 16:00Z before, 10:00 MST is 17:00Z after.
    occurrences = expand_series(
        date(2026, 10, 20),
        time(10, 0),
        timedelta(minutes=53),
        Recurrence(frequency="weekly", count=4),
        DENVER,
    )
    assert [o.start.astimezone(DENVER).time() for o in occurrences] == [time(10, 0)] * 4
    assert [o.start.hour for o in occurrences] == [16, 16, 17, 17]
    assert all(o.end - o.start == timedelta(minutes=53) for o in occurrences)


def test_biweekly_series_until_a_date() -> None:
    occurrences = expand_series(
        date(2026, 3, 3),
        time(9, 30),
        timedelta(minutes=60),
        Recurrence(frequency="biweekly", until=date(2026, 4, 14)),
        NEW_YORK,
    )
    days = [o.start.astimezone(NEW_YORK).date() for o in occurrences]
    assert days == [date(2026, 3, 3), date(2026, 3, 17), date(2026, 3, 31), date(2026, 4, 14)]
    assert {o.start.astimezone(NEW_YORK).time() for o in occurrences} == {time(9, 30)}


def test_recurrence_needs_exactly_one_bound() -> None:
    with pytest.raises(ValidationError):
        Recurrence(frequency="weekly")
    with pytest.raises(ValidationError):
        Recurrence(frequency="weekly", count=3, until=date(2026, 1, 1))


def test_window_must_end_after_start() -> None:
    with pytest.raises(ValidationError):
        WeeklyWindow(weekday=0, start=time(17), end=time(9))


def test_within_windows_is_wall_clock() -> None:
    start = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)  # 09:00 MST
    inside = Interval(start, start + timedelta(hours=8))
    assert within_windows(inside, DENVER, [(time(9), time(17))])
    assert not within_windows(inside, DENVER, [(time(10), time(17))])
    late = Interval(start + timedelta(hours=2), start + timedelta(hours=10))
    assert not within_windows(late, DENVER, [(time(9), time(17))])


def test_buckets_cover_the_interval_in_five_minute_steps() -> None:
    start = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
    got = buckets(Interval(start, start + timedelta(minutes=53)))
    assert len(got) == 11
    assert got[0] == start
    assert got[-1] == start + timedelta(minutes=50)
    # The next session may start at :55 without sharing a bucket.
    nxt = buckets(Interval(start + timedelta(minutes=55), start + timedelta(minutes=60)))
    assert not set(got) & set(nxt)


def _clinician(staff_id: str, **kw: object) -> ClinicianCalendar:
    return ClinicianCalendar(
        staff_id=staff_id,
        roles=frozenset({"therapist"}),
        weekly=tuple(WeeklyWindow(weekday=d, start=time(9), end=time(17)) for d in range(5)),
        has_template=True,
        **kw,  # type: ignore[arg-type]
    )


def _search(**kw: object) -> list[tuple[str, tuple[str, ...], str | None]]:
    args: dict[str, object] = {
        "days": [date(2026, 5, 4)],  # a Monday
        "tz": DENVER,
        "opening": [WeeklyWindow(weekday=0, start=time(8), end=time(18))],
        "duration": timedelta(hours=8),
        "required_roles": [("therapist", 2)],
        "clinicians": [_clinician("a"), _clinician("b")],
        "rooms": [RoomOption("dosing-1", frozenset({"dosing_room"}))],
        "busy": Busy({}),
    }
    args.update(kw)
    return [
        (s.interval.start.astimezone(DENVER).strftime("%H:%M"), s.clinician_ids, s.room_id)
        for s in free_slots(**args)  # type: ignore[arg-type]
    ]


def test_free_slots_need_every_role_inside_availability_and_a_room() -> None:
    assert _search() == [("09:00", ("a", "b"), "dosing-1")]
    # Only one therapist: no dyad, no slot.
    assert _search(clinicians=[_clinician("a")]) == []
    # No room with the attribute: no slot.
    assert _search(rooms=[]) == []
    # Telehealth-like (no room needed) still needs the people.
    assert _search(rooms=None)[0][1] == ("a", "b")


def test_free_slots_honour_time_off_exceptions_and_claims() -> None:
    day = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)  # 09:00 MDT
    off = _clinician("b", time_off=(Interval(day, day + timedelta(hours=1)),))
    assert _search(clinicians=[_clinician("a"), off]) == []
    # A third therapist fills the gap.
    assert _search(clinicians=[_clinician("a"), off, _clinician("c")]) == [
        ("09:00", ("a", "c"), "dosing-1")
    ]
    away = _clinician("b", exceptions=(DateException(on=date(2026, 5, 4)),))
    assert _search(clinicians=[_clinician("a"), away]) == []
    taken = Busy({"room:dosing-1": {day + timedelta(hours=3)}})
    assert _search(busy=taken) == []


def test_free_slots_short_sessions_step_every_quarter_hour() -> None:
    found = _search(
        duration=timedelta(minutes=53),
        required_roles=[("therapist", 1)],
        opening=[WeeklyWindow(weekday=0, start=time(9), end=time(10, 30))],
    )
    assert [f[0] for f in found] == ["09:00", "09:15", "09:30"]


def test_days_between_inclusive() -> None:
    assert days_between(date(2026, 1, 30), date(2026, 2, 2))[-1] == date(2026, 2, 2)


# -- gating --------------------------------------------------------------------------

START = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)


def _satisfied(**over: object) -> ClientProtocolFacts:
    base: dict[str, object] = {
        "consents": [ConsentFact("psychedelic_informed", "mdma-ptsd", "active")],
        "screenings": [ScreeningFact("mdma-ptsd", True, START - timedelta(days=40))],
        "completed_preparations": [START - timedelta(days=d) for d in (20, 13, 6)],
        "other_dosing_sessions": [],
    }
    base.update(over)
    return ClientProtocolFacts(**base)  # type: ignore[arg-type]


def _codes(facts: ClientProtocolFacts) -> list[str]:
    return [f.code for f in check_protocol(DOSING, MDMA, facts, START)]


def test_dosing_allowed_when_every_condition_holds() -> None:
    assert _codes(_satisfied()) == []


def test_each_gating_rule_refuses_with_its_own_reason() -> None:
    assert _codes(_satisfied(consents=[])) == ["informed_consent"]
    revoked = [ConsentFact("psychedelic_informed", "mdma-ptsd", "revoked")]
    assert _codes(_satisfied(consents=revoked)) == ["informed_consent"]
    other_protocol = [ConsentFact("psychedelic_informed", "psilocybin-mdd", "active")]
    assert _codes(_satisfied(consents=other_protocol)) == ["informed_consent"]
    expired = [
        ConsentFact("psychedelic_informed", "mdma-ptsd", "active", START - timedelta(days=1))
    ]
    assert _codes(_satisfied(consents=expired)) == ["informed_consent"]
    assert _codes(_satisfied(screenings=[])) == ["eligible_screening"]
    later_ineligible = [
        ScreeningFact("mdma-ptsd", True, START - timedelta(days=40)),
        ScreeningFact("mdma-ptsd", False, START - timedelta(days=2)),
    ]
    assert _codes(_satisfied(screenings=later_ineligible)) == ["eligible_screening"]
    two = [START - timedelta(days=d) for d in (13, 6)]
    assert _codes(_satisfied(completed_preparations=two)) == ["preparation_sessions"]
    # Preparation "completed" after the dosing date does not count.
    late = [START + timedelta(days=d) for d in (1, 2, 3)]
    assert _codes(_satisfied(completed_preparations=late)) == ["preparation_sessions"]
    near = [START - timedelta(days=27)]
    assert _codes(_satisfied(other_dosing_sessions=near)) == ["dosing_interval"]
    assert _codes(_satisfied(other_dosing_sessions=[START - timedelta(days=28)])) == []
    assert _codes(ClientProtocolFacts()) == [
        "informed_consent",
        "eligible_screening",
        "preparation_sessions",
    ]


def test_non_dosing_steps_are_not_gated() -> None:
    prep = DEFAULT_TYPES["mdma_preparation"]
    assert check_protocol(prep, MDMA, ClientProtocolFacts(), START) == []


def _staff(staff_id: str, licensed: bool = True, role: str = "therapist") -> ClinicianFact:
    return ClinicianFact(
        staff_id=staff_id,
        roles_at_site=frozenset({role}),
        licences=(LicenceFact("LCSW", date(2027, 1, 1) if licensed else date(2026, 1, 1)),),
    )


def test_dosing_needs_two_therapists_one_licensed() -> None:
    pair = (("a", "therapist"), ("b", "therapist"))
    facts = {"a": _staff("a"), "b": _staff("b", licensed=False)}
    assert check_clinicians(DOSING, pair, facts, "s1", START.date()) == []
    unlicensed = {"a": _staff("a", licensed=False), "b": _staff("b", licensed=False)}
    assert [f.code for f in check_clinicians(DOSING, pair, unlicensed, "s1", START.date())] == [
        "clinician_licence"
    ]
    alone = check_clinicians(DOSING, (("a", "therapist"),), facts, "s1", START.date())
    assert [f.code for f in alone] == ["clinician_count"]
    wrong_role = {"a": _staff("a"), "b": _staff("b", role="front_desk")}
    assert [f.code for f in check_clinicians(DOSING, pair, wrong_role, "s1", START.date())] == [
        "clinician_role"
    ]
    assert "clinician_unknown" in [
        f.code for f in check_clinicians(DOSING, pair, {"a": _staff("a")}, "s1", START.date())
    ]


def test_three_integration_sessions_are_proposed_after_dosing() -> None:
    proposed = integration_proposals(MDMA, START)
    assert len(proposed) == 3
    assert all(p > START for p in proposed)


# -- lifecycle -----------------------------------------------------------------------


def test_status_lifecycle() -> None:
    assert next_status("booked", "checked_in") == "checked_in"
    assert next_status("checked_in", "started") == "started"
    assert next_status("started", "completed") == "completed"
    assert next_status("booked", "no_show") == "no_show"
    assert next_status("booked", "cancelled") == "cancelled"
    with pytest.raises(Conflict):
        next_status("completed", "cancelled")
    with pytest.raises(Conflict):
        next_status("booked", "completed")


def test_late_cancel_follows_the_notice_window() -> None:
    assert is_late_cancel(START, START - timedelta(hours=23), 24)
    assert not is_late_cancel(START, START - timedelta(hours=25), 24)


def test_authorization_exceeded() -> None:
    assert not exceeds_authorization(10, 8, 1, 1)
    assert exceeds_authorization(10, 8, 2, 1)
