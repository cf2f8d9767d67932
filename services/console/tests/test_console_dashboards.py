"""The dashboards page: default period and what the tables and CSV links show."""

from __future__ import annotations

import time
from datetime import date
from types import SimpleNamespace

from halcyon.console.sessions import SessionStore
from halcyon.console.views_dashboards import period
from halcyon.console.web import make_env


def test_the_default_period_is_the_last_thirty_local_days() -> None:
    assert period(date(2026, 3, 31), "", "", "") == {
        "from": "2026-03-01",
        "to": "2026-03-31",
        "as_of": "2026-03-31",
    }
    assert period(date(2026, 3, 31), "2026-01-01", "2026-01-31", "2026-02-15")["as_of"] == (
        "2026-02-15"
    )


def test_page_shows_figures_in_dollars_and_links_each_csv() -> None:
    store = SessionStore("secret", 900, 3600)
    session = store.create(
        agency_id="a",
        email="e@x.org",
        access_token="t",
        refresh_token="r",
        access_expires_at=time.time() + 300,
        user_id="u",
        grants=[("site-1", "biller")],
        site_id="site-1",
        site_ids=["site-1"],
    )
    when = {"from": "2026-03-01", "to": "2026-03-31", "as_of": "2026-03-31"}
    reports = {
        "ar-aging": {
            "as_of": "2026-03-31",
            "buckets": [
                {"bucket": "0-30", "claims": 1, "outstanding_cents": 12_345},
                {"bucket": "31-60", "claims": 0, "outstanding_cents": 0},
                {"bucket": "61-90", "claims": 0, "outstanding_cents": 0},
                {"bucket": "90+", "claims": 0, "outstanding_cents": 0},
            ],
            "total_cents": 12_345,
            "claims": [{}],
        },
        "denials": {
            "from": "2026-03-01",
            "to": "2026-03-31",
            "denied_claims": 1,
            "total_denied_cents": 8_000,
            "reasons": [{"code": "CO-50", "denials": 1, "amount_cents": 7_500}],
        },
        "attendance": None,  # e.g. the role may not see it: the section is left out
    }
    html = (
        make_env()
        .get_template("dashboards.html")
        .render(
            request=SimpleNamespace(url=SimpleNamespace(path="/console/dashboards")),
            s=session,
            csrf=session.csrf,
            now=time.time(),
            reports=reports,
            activity=[],
            when=when,
            errors=[],
        )
    )
    assert "$123.45" in html
    assert "CO-50" in html
    assert "$75.00" in html
    assert "/console/dashboards/ar-aging.csv?start=2026-03-01" in html
    assert "/console/dashboards/denials.csv?" in html
    assert 'id="attendance"' not in html


def test_units_outcomes_and_controlled_substances_are_shown_with_their_csv() -> None:
    store = SessionStore("secret", 900, 3600)
    session = store.create(
        agency_id="a", email="e@x.org", access_token="t", refresh_token="r",
        access_expires_at=time.time() + 300, user_id="u", grants=[("site-1", "agency_admin")],
        site_id="site-1", site_ids=["site-1"],
    )  # fmt: skip
    reports = {
        "billable-units": {
            "from": "2026-03-01", "to": "2026-03-31", "total_units": 9, "total_held_units": 1,
            "total_cents": 178_000,
            "rows": [{"clinician": "Grace Hopper", "cpt": "0820T", "units": 8, "held_units": 0,
                      "amount_cents": 160_000}],
        },
        "outcomes": {
            "from": "2026-03-01", "to": "2026-03-31",
            "rows": [{"program": "Depression IOP", "instrument": "phq9", "clients": 2,
                      "mean_baseline": "10.0", "mean_latest": "7.5", "mean_change": "-2.5",
                      "improved": 1, "unchanged": 1, "worsened": 0}],
        },
    }  # fmt: skip
    activity = [{
        "registration_id": "reg-1", "dea_number": "RD1234567", "registrant_name": "Halcyon",
        "from": "2026-03-01", "to": "2026-03-31",
        "rows": [{"substance": "MDMA", "strength_mg": "40", "form": "capsule", "schedule": "I",
                  "opening_mg": "919.7", "receipt_mg": "0", "transfer_in_mg": "0",
                  "initial_inventory_mg": "0", "dispense_mg": "180", "dispenses": 2,
                  "waste_mg": "0.1", "destruction_mg": "0", "return_mg": "0",
                  "transfer_out_mg": "40", "adjustment_mg": "-1.5", "closing_mg": "698.1"}],
    }]  # fmt: skip
    html = (
        make_env()
        .get_template("dashboards.html")
        .render(
            request=SimpleNamespace(url=SimpleNamespace(path="/console/dashboards")),
            s=session, csrf=session.csrf, now=time.time(), reports=reports,
            activity=activity, errors=[],
            when={"from": "2026-03-01", "to": "2026-03-31", "as_of": "2026-03-31"},
        )
    )  # fmt: skip
    assert "9 unit(s), $1780.00; 1 held" in html
    assert "$1600.00" in html
    assert "PHQ-9" in html
    assert "-2.5" in html
    assert "1 / 1 / 0" in html
    assert "MDMA 40 mg capsule (C-I)" in html
    assert "180 (2)" in html
    assert "698.1" in html
    assert "DEA RD1234567" in html
    for csv in ("billable-units.csv", "outcomes.csv", "activity-reg-1.csv"):
        assert f"/console/dashboards/{csv}?start=2026-03-01" in html
