"""Pure parts of the console: problems in words, the signed session cookie, expiry,
credential warnings, charts."""

from __future__ import annotations

import time
from datetime import date

from halcyon.console.api import problem_words
from halcyon.console.charts import Series, Threshold, line_chart
from halcyon.console.sessions import SessionStore
from halcyon.console.views_ops import expiry_warnings


def _session(store: SessionStore) -> str:
    created = store.create(
        agency_id="a",
        email="e@x.org",
        access_token="t",
        refresh_token="r",
        access_expires_at=time.time() + 300,
        user_id="u",
        grants=[("site-1", "nurse")],
    )
    return store.sign(created.id)


def test_booking_refusal_lists_each_gate_in_words() -> None:
    lines = problem_words(
        422,
        {
            "title": "Booking refused",
            "detail": "2 conditions failed",
            "failed_conditions": [
                {"code": "informed_consent", "detail": ""},
                {"code": "preparation_sessions", "detail": "2 of 3 preparation sessions done"},
            ],
        },
    )
    assert lines[0] == "Booking refused"
    assert "informed consent" in lines[1]
    assert lines[2] == "2 of 3 preparation sessions done"


def test_validation_errors_name_the_field_not_the_json_path() -> None:
    lines = problem_words(
        422,
        {"errors": [{"location": ["body", "systolic_mmhg"], "message": "must be <= 300"}]},
    )
    assert lines == [
        "Please correct these fields; nothing was saved:",
        "systolic mmhg: must be <= 300",
    ]


def test_a_bare_status_still_reads_as_a_sentence() -> None:
    assert problem_words(403, {}) == ["You do not have permission to do this here."]
    assert problem_words(404, {"detail": "no client x in your agency"}) == [
        "No client x in your agency."
    ]


def test_a_forged_or_tampered_cookie_finds_no_session() -> None:
    store = SessionStore("secret", idle_seconds=60, absolute_seconds=3600)
    cookie = _session(store)
    assert store.get(cookie)[0] is not None
    session_id = cookie.rpartition(".")[0]
    assert store.get(session_id + ".0000") == (None, False)
    assert store.get(session_id) == (None, False)
    other = SessionStore("another secret", idle_seconds=60, absolute_seconds=3600)
    assert other.get(cookie) == (None, False)


def test_an_idle_session_ends_and_says_so() -> None:
    store = SessionStore("secret", idle_seconds=60, absolute_seconds=3600)
    cookie = _session(store)
    session, _ = store.get(cookie)
    assert session is not None
    session.last_seen -= 61
    assert store.get(cookie) == (None, True)


def test_credentials_expiring_within_sixty_days_are_flagged() -> None:
    staff = [
        {
            "id": "s1",
            "licences": [{"number": "L-1", "expires_on": "2026-12-01"}],
            "dea_registrations": [{"number": "BP1", "expires_on": "2026-01-01"}],
        },
        {"id": "s2", "licences": [{"number": "L-2", "expires_on": "2030-01-01"}]},
    ]
    warnings = expiry_warnings(staff, date(2026, 11, 27))
    assert warnings == {
        "s1": ["licence L-1 expires on 2026-12-01", "DEA registration BP1 EXPIRED on 2026-01-01"]
    }


def test_vitals_chart_draws_points_and_threshold_lines() -> None:
    svg = line_chart(
        ["09:00", "09:30"],
        [Series("systolic", [128, 172], "#000")],
        [Threshold("systolic 160", 160)],
        title="Vitals <live>",
    )
    assert svg.count("<circle") == 2
    assert "systolic 160" in svg
    assert "stroke-dasharray" in svg
    assert "Vitals &lt;live&gt;" in svg  # escaped
