"""Staff messages name sites the way people do."""

from __future__ import annotations

from halcyon.notifications.domain.sites import site_label, with_site_name
from halcyon.notifications.domain.templates import DEFAULTS, render


def test_an_alert_names_the_site_not_its_id() -> None:
    context = with_site_name({"site_id": "0190-uuid", "substance": "psilocybin"}, {"name": "Pearl"})
    message = render(
        DEFAULTS[("stock_low", "inbox", "en")],
        {**context, "lot_id": "l", "balance": 1, "threshold": 2},
    )
    assert message.subject == "Low stock at Pearl"
    assert "0190-uuid" not in message.subject


def test_a_site_not_yet_known_is_still_told() -> None:
    assert site_label(None, "0190-uuid") == "site 0190-uuid"
    assert site_label(None, None) == "the agency"
