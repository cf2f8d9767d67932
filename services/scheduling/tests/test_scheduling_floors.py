"""Protocol floors (ADR 0404): the shipped defaults meet them, an agency type below one is
named, and the gating at start and discharge reads them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from halcyon.scheduling.domain.catalog import DEFAULT_PROTOCOLS, DEFAULT_TYPES, RoleRequirement
from halcyon.scheduling.domain.gating import (
    ClinicianFact,
    LicenceFact,
    check_in_presence,
    check_monitoring,
    check_presence,
    protocol_below_floor,
    type_below_floor,
    type_keeps_protocol,
)
from halcyon.shared.protocol_floors import FLOORS, floor_of

NOW = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)


def test_every_default_type_and_protocol_meets_its_floor() -> None:
    for kind in DEFAULT_TYPES.values():
        assert type_below_floor(kind, floor_of(kind.protocol_id)) == [], kind.code
    for protocol in DEFAULT_PROTOCOLS.values():
        assert protocol_below_floor(protocol, floor_of(protocol.protocol_id)) == []
    # Esketamine and psilocybin are bookable: a dosing type exists for each.
    dosing = {k.protocol_id for k in DEFAULT_TYPES.values() if k.protocol_step == "dosing"}
    assert {"mdma-ptsd", "esketamine-trd", "psilocybin-trd"} <= dosing


def test_published_minimums() -> None:
    mdma, rems, psilocybin = (FLOORS[p] for p in ("mdma-ptsd", "esketamine-trd", "psilocybin-trd"))
    assert (mdma.clinicians_present, mdma.preparation_sessions, mdma.dosing_minutes) == (2, 3, 480)
    assert rems.monitoring_minutes == 120
    assert rems.monitoring_form_due_days == 7
    assert rems.bp_checks == ("pre_dose", "post_dose_40min", "discharge")
    assert rems.room_attribute == "rems_certified"
    assert psilocybin.clinicians_present == 1
    assert psilocybin.monitoring_minutes == 360


def test_loosening_is_named_and_tightening_is_not() -> None:
    mdma = DEFAULT_TYPES["mdma_dosing"]
    floor = floor_of("mdma-ptsd")
    alone = mdma.model_copy(
        update={"required_roles": (RoleRequirement(role="therapist", count=1),)}
    )
    assert [f.code for f in type_below_floor(alone, floor)] == ["floor_clinicians"]
    short = mdma.model_copy(update={"duration_minutes": 479, "licensed_clinicians_required": 0})
    assert {f.code for f in type_below_floor(short, floor)} == {
        "floor_duration",
        "floor_licensed_clinicians",
    }
    anywhere = mdma.model_copy(update={"room_attribute": None})
    assert [f.code for f in type_below_floor(anywhere, floor)] == ["floor_room"]
    tighter = mdma.model_copy(
        update={
            "required_roles": (RoleRequirement(role="therapist", count=3),),
            "licensed_clinicians_required": 2,
            "duration_minutes": 540,
        }
    )
    assert type_below_floor(tighter, floor) == []
    fewer_preps = DEFAULT_PROTOCOLS["mdma-ptsd"].model_copy(
        update={"preparation_sessions_required": 2, "min_days_between_dosing": 20}
    )
    assert {f.code for f in protocol_below_floor(fewer_preps, floor)} == {
        "floor_preparation_sessions",
        "floor_dosing_interval",
    }


def test_start_needs_the_dyad_present_and_licensed() -> None:
    mdma = DEFAULT_TYPES["mdma_dosing"]
    floor = floor_of("mdma-ptsd")
    booked = [("t1", "therapist"), ("t2", "therapist")]
    licensed = (LicenceFact("LCSW", TODAY),)
    facts = {
        "t1": ClinicianFact("t1", licences=licensed),
        "t2": ClinicianFact("t2"),
    }
    assert check_presence(mdma, floor, booked, ["t1", "t2"], facts, TODAY) == []
    [alone] = check_presence(mdma, floor, booked, ["t1"], facts, TODAY)
    assert alone.code == "clinicians_present"
    assert "2 therapist(s)" in alone.detail
    # The licensed one stepped out: two present is not enough without a licence.
    lapsed = {
        **facts,
        "t1": ClinicianFact("t1", licences=(LicenceFact("LCSW", TODAY - timedelta(days=1)),)),
    }
    assert [f.code for f in check_presence(mdma, floor, booked, ["t1", "t2"], lapsed, TODAY)] == [
        "clinician_licence"
    ]


def test_rems_discharge_waits_two_hours_from_the_start() -> None:
    kind = DEFAULT_TYPES["esketamine_dosing"]
    floor = floor_of("esketamine-trd")
    started = NOW - timedelta(minutes=119)
    [early] = check_monitoring(kind, floor, started, NOW)
    assert early.code == "monitoring_minutes"
    assert "120 min" in early.detail
    assert check_monitoring(kind, floor, NOW - timedelta(minutes=120), NOW) == []
    # Preparation sessions end when they end.
    prep = DEFAULT_TYPES["psilocybin_preparation"]
    assert check_monitoring(prep, floor_of("psilocybin-trd"), NOW, NOW) == []


def test_a_protocol_type_cannot_shed_its_protocol_or_step_to_escape_the_floor() -> None:
    # PUT /appointment-types/mdma_dosing with one therapist, 30 minutes, any room, and the
    # protocol (or its dosing step) removed: the floor check sees no dosing type at all.
    mdma = DEFAULT_TYPES["mdma_dosing"]
    weak = {
        "required_roles": (RoleRequirement(role="therapist", count=1),),
        "duration_minutes": 30,
        "room_attribute": None,
        "licensed_clinicians_required": 0,
    }
    for shed in (
        {"protocol_id": None, "protocol_step": None},
        {"protocol_step": None},
        {"protocol_step": "preparation"},
        {"protocol_id": "psilocybin-trd"},
    ):
        body = mdma.model_copy(update={**weak, **shed})
        failed = type_below_floor(body, floor_of(body.protocol_id))
        failed += type_keeps_protocol(body, DEFAULT_TYPES.get(body.code))
        assert "floor_protocol" in {f.code for f in failed}, shed
    assert type_keeps_protocol(mdma, mdma) == []
    assert type_keeps_protocol(DEFAULT_TYPES["intake"], DEFAULT_TYPES["intake"]) == []


def test_check_in_needs_the_present_clinicians_active_and_licensed() -> None:
    # Inventory doses a checked-in session (counting the therapists present), so a
    # licence lapsed or a deactivated therapist must stop the check-in, not only start.
    mdma = DEFAULT_TYPES["mdma_dosing"]
    floor = floor_of("mdma-ptsd")
    booked = [("t1", "therapist"), ("t2", "therapist")]
    lapsed = (LicenceFact("LCSW", TODAY - timedelta(days=1)),)
    facts = {"t1": ClinicianFact("t1", licences=lapsed), "t2": ClinicianFact("t2")}
    assert [f.code for f in check_in_presence(mdma, floor, booked, ["t1", "t2"], facts, TODAY)] == [
        "clinician_licence"
    ]
    licensed = (LicenceFact("LCSW", TODAY),)
    ok = {**facts, "t1": ClinicianFact("t1", licences=licensed)}
    # One licensed therapist checks in first; the dyad is completed by the start.
    assert check_in_presence(mdma, floor, booked, ["t1"], ok, TODAY) == []
    assert check_in_presence(mdma, floor, booked, ["t1", "t2"], ok, TODAY) == []
    gone = {**ok, "t2": ClinicianFact("t2", active=False)}
    assert [f.code for f in check_in_presence(mdma, floor, booked, ["t1", "t2"], gone, TODAY)] == [
        "clinician_inactive"
    ]
