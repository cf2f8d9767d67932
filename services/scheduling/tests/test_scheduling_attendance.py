"""No-show and late-cancel rates against figures computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

from halcyon.scheduling.domain.attendance import attendance, rate

DENVER = "America/Denver"


def appt(
    aid: str, at: str, status: str, clinicians: list[str], kind: str, late: bool = False
) -> dict[str, object]:
    return {
        "_id": aid,
        "site_id": "S1",
        "site_timezone": DENVER,
        "starts_at": datetime.fromisoformat(at).replace(tzinfo=UTC),
        "status": status,
        "late_cancel": late,
        "clinician_ids": clinicians,
        "appointment_type": kind,
    }


def test_rates_per_site_clinician_and_type_over_local_days() -> None:
    appointments = [
        appt("a1", "2026-03-05T17:00", "completed", ["T1"], "therapy_50"),
        appt("a2", "2026-03-06T17:00", "no_show", ["T1"], "therapy_50"),
        appt("a3", "2026-03-07T17:00", "cancelled", ["T1", "T2"], "intake", late=True),
        # cancelled with notice: the slot was given back, not an attendance failure
        appt("a4", "2026-03-08T17:00", "cancelled", ["T2"], "intake"),
        # 2026-03-31 21:00 in Denver (MDT), though already April in UTC
        appt("a5", "2026-04-01T03:00", "completed", ["T2"], "intake"),
        # 2026-02-28 22:00 in Denver: outside the period although March in UTC
        appt("a6", "2026-03-01T05:00", "no_show", ["T2"], "therapy_50"),
        appt("a7", "2026-03-20T17:00", "booked", ["T1"], "therapy_50"),
    ]
    report = attendance(appointments, date(2026, 3, 1), date(2026, 3, 31))
    got = {
        (r["dimension"], r["key"]): (
            r["held"],
            r["no_shows"],
            r["late_cancels"],
            r["no_show_rate_pct"],
            r["late_cancel_rate_pct"],
        )
        for r in report["rows"]
    }
    assert got == {
        ("site", "S1"): (5, 1, 1, "20.0", "20.0"),
        ("clinician", "T1"): (4, 1, 1, "25.0", "25.0"),
        ("clinician", "T2"): (2, 0, 1, "0.0", "50.0"),
        ("appointment_type", "intake"): (2, 0, 1, "0.0", "50.0"),
        ("appointment_type", "therapy_50"): (3, 1, 0, "33.3", "0.0"),
    }
    assert report["rows"][0]["dimension"] == "site"


def test_rate_rounds_half_up_and_is_absent_without_appointments() -> None:
    assert rate(2, 3) == "66.7"
    assert rate(1, 8) == "12.5"
    assert rate(1, 16) == "6.3"  # 6.25 rounds half up
    assert rate(0, 0) is None
