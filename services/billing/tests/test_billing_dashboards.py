"""AR aging and denials by reason against figures computed by hand."""

from __future__ import annotations

from datetime import date

import pytest
from halcyon.billing.domain.dashboards import ar_aging, bucket_of, denials_by_reason
from halcyon.shared.csvout import to_csv


def claim(
    number: str, served: str, status: str, total: int, paid: int = 0, **extra: object
) -> dict[str, object]:
    return {
        "_id": f"clm-{number}",
        "claim_number": number,
        "payer": "AETNA",
        "client_id": "c1",
        "service_date": served,
        "status": status,
        "total_cents": total,
        "paid_cents": paid,
        **extra,
    }


@pytest.mark.parametrize(
    ("age", "bucket"),
    [(0, "0-30"), (30, "0-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"), (90, "61-90"),
     (91, "90+"), (400, "90+")],
)  # fmt: skip
def test_bucket_edges_are_inclusive_day_counts(age: int, bucket: str) -> None:
    assert bucket_of(age) == bucket


def test_ar_aging_ages_open_balances_from_the_service_date() -> None:
    as_of = date(2026, 6, 30)
    claims = [
        claim("1", "2026-06-30", "submitted", 15_000),  # 0 days: 150.00
        claim("2", "2026-05-31", "accepted", 20_000, 5_000),  # 30 days: 150.00 left
        claim("3", "2026-05-30", "denied", 12_345),  # 31 days: 123.45
        claim("4", "2026-04-01", "appealed", 9_999),  # 90 days: 99.99
        claim("5", "2026-03-31", "submitted", 30_001, 1),  # 91 days: 300.00
        claim("6", "2026-06-01", "paid", 20_000, 12_000),  # paid: remainder not payer AR
        claim("7", "2026-06-01", "rejected", 5_000),  # lives on as its replacement
        claim("8", "2026-06-01", "denied", 5_000, replaced_by="clm-9"),
        claim("9", "2026-07-01", "submitted", 7_000),  # after as_of
    ]
    report = ar_aging(claims, as_of)
    assert report["buckets"] == [
        {"bucket": "0-30", "claims": 2, "outstanding_cents": 30_000},
        {"bucket": "31-60", "claims": 1, "outstanding_cents": 12_345},
        {"bucket": "61-90", "claims": 1, "outstanding_cents": 9_999},
        {"bucket": "90+", "claims": 1, "outstanding_cents": 30_000},
    ]
    assert report["total_cents"] == 82_344
    assert [c["claim_number"] for c in report["claims"]] == ["5", "4", "3", "2", "1"]
    assert report["aged_from"] == "service_date"


def test_denials_group_by_carc_without_patient_responsibility() -> None:
    payments = [
        {  # denied for CO-50 at claim level and CO-50 + CO-197 on lines
            "denial": True,
            "charge_cents": 25_000,
            "adjustments": [{"group": "CO", "reason": "50", "amount_cents": 10_000}],
            "services": [
                {"adjustments": [{"group": "CO", "reason": "50", "amount_cents": 5_000}]},
                {"adjustments": [{"group": "CO", "reason": "197", "amount_cents": 10_000}]},
            ],
        },
        {
            "denial": True,
            "charge_cents": 8_000,
            "adjustments": [
                {"group": "CO", "reason": "50", "amount_cents": 7_500},
                {"group": "PR", "reason": "1", "amount_cents": 500},
            ],
            "services": [],
        },
        {  # paid: not a denial, its CO-45 is a contractual write-off
            "denial": False,
            "charge_cents": 10_000,
            "adjustments": [{"group": "CO", "reason": "45", "amount_cents": 2_000}],
            "services": [],
        },
    ]
    report = denials_by_reason(payments)
    assert report["denied_claims"] == 2
    assert report["total_denied_cents"] == 33_000
    assert report["reasons"] == [
        {"code": "CO-50", "group": "CO", "carc": "50", "denials": 2, "amount_cents": 22_500},
        {"code": "CO-197", "group": "CO", "carc": "197", "denials": 1, "amount_cents": 10_000},
    ]


def test_csv_keeps_integer_cents_and_header() -> None:
    body = to_csv(("code", "amount_cents"), [{"code": "CO-50", "amount_cents": 22_500}])
    assert body == b"code,amount_cents\r\nCO-50,22500\r\n"


def test_billable_units_count_open_and_claimed_show_held_apart_and_skip_reversed() -> None:
    from halcyon.billing.domain.dashboards import billable_units_by_clinician

    def charge(
        staff: str | None, cpt: str, units: int, cents: int, status: str
    ) -> dict[str, object]:
        return {"kind": "charge", "rendering_staff_id": staff, "cpt": cpt, "units": units,
                "amount_cents": cents, "status": status}  # fmt: skip

    report = billable_units_by_clinician(
        [
            charge("t1", "90837", 1, 18_000, "claimed"),
            charge("t1", "90837", 1, 18_000, "open"),
            charge("t1", "90834", 1, 0, "held"),  # no minutes yet: held, no amount
            charge("t1", "90837", 1, 18_000, "reversed"),  # replaced by a later revision
            charge("t2", "0820T", 6, 120_000, "claimed"),
            charge(None, "S0013", 84, 0, "open"),  # a drug line with no rendering clinician
            {"kind": "reversal", "rendering_staff_id": "t1", "cpt": "90837", "units": -1,
             "amount_cents": -18_000, "status": "posted"},
        ],
        {"t1": "Ada Therapist", "t2": "Bo Prescriber"},
    )  # fmt: skip
    assert [(r["clinician"], r["cpt"], r["units"], r["held_units"], r["amount_cents"])
            for r in report["rows"]] == [
        ("(no rendering clinician)", "S0013", 84, 0, 0),
        ("Ada Therapist", "90834", 0, 1, 0),
        ("Ada Therapist", "90837", 2, 0, 36_000),
        ("Bo Prescriber", "0820T", 6, 0, 120_000),
    ]  # fmt: skip
    assert report["total_units"] == 92
    assert report["total_held_units"] == 1
    assert report["total_cents"] == 156_000
