"""The billing page shows a client's coverage with the last 271 answer, and why charges wait."""

from __future__ import annotations

from types import SimpleNamespace

from halcyon.console.web import make_env


def test_coverage_eligibility_and_hold_reasons_are_shown() -> None:
    html = make_env().get_template("billing.html").render(
        request=SimpleNamespace(url=SimpleNamespace(path="/console/billing"), query_params={}),
        s=SimpleNamespace(site_name="Boulder"),
        csrf="x",
        claims=[],
        queue=[{"id": "wq:part2:e1:acme", "kind": "part2_hold", "status": "open",
                "reason": "42 CFR Part 2: no active Part 2 consent for payment to this payer"}],
        payers=[],
        charges=[{"cpt": "90837", "units": 1, "amount_cents": 18000, "status": "held",
                  "hold_reasons": ["42 CFR Part 2: no active Part 2 consent for payment"]}],
        awaiting=[],
        ledger={"balance_cents": 0},
        coverages=[{"rank": "primary", "member_id": "M123", "eligibility": {
            "status": "active", "checked_at": "2026-11-02T12:00:00Z",
            "plan_begins_on": "2026-01-01", "plan_ends_on": "2026-12-31",
            "copay_cents": 2500, "coinsurance_percent": "15",
            "deductible_cents": 150000, "deductible_remaining_cents": 123456}},
            {"rank": "secondary", "member_id": "S9", "eligibility": None}],
        client={"given_name": "Ada", "family_name": "Byron"},
        client_id="cl-1",
        filters={},
        errors=[],
        values={},
        done="",
    )  # fmt: skip
    assert "Coverage and eligibility" in html
    assert "active · 2026-11-02" in html
    assert "2026-01-01 \u2013 2026-12-31" in html
    assert "$25.00" in html
    assert "15 %" in html
    assert "$1500.00 ($1234.56)" in html
    assert "not checked" in html
    assert "held: 42 CFR Part 2" in html
    assert "part2 hold" in html
