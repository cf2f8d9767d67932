"""Fee schedules, coverages, authorizations, claim lifecycle, statements: pure rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from halcyon.billing.domain.claims import TRANSITIONS, can_post_remittance, check_transition
from halcyon.billing.domain.payers import authorization_for, coverage_for, fee_for
from halcyon.billing.domain.x12 import format_amount
from halcyon.billing.statements import money, render_statement
from halcyon.shared.errors import Conflict

FEES = [
    {"_id": "f1", "cpt": "90837", "modifiers": [], "rate_cents": 15000, "starts_on": "2026-01-01"},
    {
        "_id": "f2",
        "cpt": "90837",
        "modifiers": ["95"],
        "rate_cents": 14000,
        "starts_on": "2026-01-01",
        "ends_on": "2026-06-30",
    },
    {"_id": "f3", "cpt": "0820T", "modifiers": [], "rate_cents": 20000, "starts_on": "2026-07-01"},
]


def test_fee_with_the_same_modifiers_wins_over_the_plain_fee() -> None:
    assert fee_for(FEES, "90837", ("95",), date(2026, 3, 1)).rate_cents == 14000  # type: ignore[union-attr]
    assert fee_for(FEES, "90837", (), date(2026, 3, 1)).rate_cents == 15000  # type: ignore[union-attr]


def test_fee_effective_dates_are_inclusive() -> None:
    assert fee_for(FEES, "90837", ("95",), date(2026, 6, 30)).entry_id == "f2"  # type: ignore[union-attr]
    assert fee_for(FEES, "90837", ("95",), date(2026, 7, 1)).entry_id == "f1"  # type: ignore[union-attr]
    assert fee_for(FEES, "0820T", (), date(2026, 6, 30)) is None
    assert fee_for(FEES, "0820T", (), date(2026, 7, 1)).rate_cents == 20000  # type: ignore[union-attr]


def test_coverage_by_rank_on_the_date_of_service() -> None:
    coverages = [
        {"_id": "old", "rank": "primary", "starts_on": "2025-01-01", "ends_on": "2025-12-31"},
        {"_id": "new", "rank": "primary", "starts_on": "2026-01-01"},
        {"_id": "sec", "rank": "secondary", "starts_on": "2026-01-01"},
    ]
    assert coverage_for(coverages, date(2025, 12, 31), "primary")["_id"] == "old"  # type: ignore[index]
    assert coverage_for(coverages, date(2026, 1, 1), "primary")["_id"] == "new"  # type: ignore[index]
    assert coverage_for(coverages, date(2025, 6, 1), "secondary") is None


def test_authorization_by_code_and_date_range() -> None:
    auths = [{"_id": "a", "cpt": "0820T", "starts_on": "2026-10-01", "ends_on": "2026-12-31"}]
    assert authorization_for(auths, "0820T", date(2026, 12, 31)) is not None
    assert authorization_for(auths, "0820T", date(2027, 1, 1)) is None
    assert authorization_for(auths, "0821T", date(2026, 11, 1)) is None


@pytest.mark.parametrize(
    ("current", "wanted", "allowed"),
    [
        ("draft", "submitted", True),
        ("draft", "paid", False),
        ("submitted", "accepted", True),
        ("submitted", "rejected", True),
        ("rejected", "submitted", False),
        ("denied", "appealed", True),
        ("appealed", "paid", True),
        ("paid", "appealed", False),
        ("accepted", "appealed", False),
    ],
)
def test_claim_lifecycle(current: str, wanted: str, allowed: bool) -> None:
    if allowed:
        check_transition(current, wanted)
    else:
        with pytest.raises(Conflict):
            check_transition(current, wanted)


def test_every_status_is_known_and_drafts_take_no_remittance() -> None:
    assert set(TRANSITIONS) == {
        "draft",
        "submitted",
        "accepted",
        "rejected",
        "paid",
        "denied",
        "appealed",
    }
    assert not can_post_remittance("draft")
    assert can_post_remittance("appealed")


@pytest.mark.parametrize(
    ("cents", "text"), [(0, "0"), (100, "1"), (12345, "123.45"), (12340, "123.4"), (-127, "-1.27")]
)
def test_x12_amounts_have_no_trailing_zeros(cents: int, text: str) -> None:
    assert format_amount(cents) == text


def test_statement_pdf_lists_entries_and_the_balance() -> None:
    pdf = render_statement(
        agency="Halcyon",
        client_name="Ada Byron",
        client_id="cl-1",
        entries=[
            {
                "posted_at": datetime(2026, 11, 2, tzinfo=UTC),
                "description": "0820T x8",
                "amount_cents": 80000,
            },
            {
                "posted_at": datetime(2026, 11, 9, tzinfo=UTC),
                "description": "payment",
                "amount_cents": -30000,
            },
        ],
        balance_cents=50000,
        on=date(2026, 11, 30),
    )
    assert pdf.startswith(b"%PDF")
    for text in (b"Ada Byron", b"0820T x8", b"$800.00", b"-$300.00", b"$500.00"):
        assert text in pdf
    assert money(-5) == "-$0.05"
