"""270 eligibility inquiry: the TR3 subscriber example's shape, envelope counts that hold.

pyx12 has no 005010X279A1 map, so the structure is compared with the TR3 example
(tests/data/x12/270, see SOURCES.md) segment by segment.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from halcyon.billing.domain.claim837 import Address, BillingProvider, Party
from halcyon.billing.domain.eligibility270 import write_270
from halcyon.billing.domain.x12 import read_separators, split_segments

EXAMPLE = Path(__file__).parent / "data" / "x12" / "270" / "tr3-subscriber-eligibility-inquiry.270"


def tags(text: str) -> list[str]:
    warnings: list[str] = []
    separators, body = read_separators(text, warnings)
    return [s.tag for s in split_segments(body, separators)]


def test_270_follows_the_tr3_subscriber_inquiry_and_counts_its_segments() -> None:
    text = write_270(
        sender_id="HALCYONSUB",
        receiver_id="RECV01",
        control_number=5,
        created_at=datetime(2026, 11, 27, 15, 0, tzinfo=UTC),
        payer=Party("Acme Health", "60054"),
        provider=BillingProvider(
            "Halcyon Clinic", "1234567893", "123456789", Address("1 MAIN", "X", "OR", "972011234")
        ),
        subscriber=Party("Byron", "M123", given_name="Ada", date_of_birth=date(1990, 1, 2)),
        trace_number="E-1",
        on=date(2026, 12, 1),
    )
    assert tags(text) == tags(EXAMPLE.read_text())
    segments = [s.split("*") for s in text.replace("\n", "").split("~") if s]
    st = next(i for i, s in enumerate(segments) if s[0] == "ST")
    se = next(i for i, s in enumerate(segments) if s[0] == "SE")
    assert int(segments[se][1]) == se - st + 1
    assert ["EQ", "30"] in segments
    assert ["DTP", "291", "D8", "20261201"] in segments
    assert ["NM1", "IL", "1", "BYRON", "ADA", "", "", "", "MI", "M123"] in segments


def test_270_names_are_ascii_like_the_837p() -> None:
    text = write_270(
        sender_id="HALCYONSUB",
        receiver_id="RECV01",
        control_number=6,
        created_at=datetime(2026, 11, 27, 15, 0, tzinfo=UTC),
        payer=Party("Salud Española", "60054"),
        provider=BillingProvider(
            "Halcyon Clinic", "1234567893", "123456789", Address("1 MAIN", "X", "OR", "972011234")
        ),
        subscriber=Party("Núñez", "M123", given_name="José", date_of_birth=date(1990, 1, 2)),
        trace_number="E-2",
        on=date(2026, 12, 1),
    )
    assert text.isascii()
    assert "NM1*IL*1*NUNEZ*JOSE****MI*M123~" in text
    assert "NM1*PR*2*SALUD ESPANOLA*" in text
