"""42 CFR Part 2 on claims: a substance-use-disorder record goes to a payer only with consent.

42 CFR 2.13 and 2.31: a Part 2 program may disclose a patient's SUD records (a claim
naming an SUD diagnosis or a Part 2 program's service is one) to a payer only under a
written consent that names that recipient and the purpose (payment). Clinical decides
whether an encounter is Part 2 protected (``EncounterSigned.part2``) and publishes the
client's Part 2 consents (``ConsentChanged`` with recipient and purpose); billing keeps
them and holds the encounter's charges until such a consent is active (ADR 0607).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

# The purposes under which a Part 2 consent lets billing send a claim: payment.
PAYMENT = "payment"
HOLD_REASON = "42 CFR Part 2: no active Part 2 consent for payment to this payer"


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def names_payer(recipient: str, payer_name: str, payer_id: str) -> bool:
    """The consent's recipient is this payer: its name or its payer id, case and spacing aside."""
    wanted = _normal(recipient)
    return wanted in {_normal(payer_name), _normal(payer_id)}


def is_active(consent: Mapping[str, Any], now: datetime) -> bool:
    if consent.get("status") != "active":
        return False
    effective = consent.get("effective_at")
    if isinstance(effective, datetime) and _aware(effective) > now:
        return False
    expires = consent.get("expires_at")
    return not (isinstance(expires, datetime) and _aware(expires) <= now)


def consent_for_payment(
    consents: Iterable[Mapping[str, Any]], payer_name: str, payer_id: str, now: datetime
) -> Mapping[str, Any] | None:
    """The active Part 2 consent that lets the claim go to this payer for payment, if any."""
    for consent in consents:
        if (
            consent.get("kind") == "part2"
            and consent.get("purpose") == PAYMENT
            and names_payer(str(consent.get("recipient") or ""), payer_name, payer_id)
            and is_active(consent, now)
        ):
            return consent
    return None


def _aware(moment: datetime) -> datetime:
    # The document store hands back naive UTC datetimes.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
