"""Which agency templates may be saved: a known template and channel, a body that renders
with the standard context, and (to clients) no clinical details (ADR 0701)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from halcyon.notifications.domain.privacy import clinical_terms_in
from halcyon.notifications.domain.templates import (
    CLIENT_CHANNELS,
    CLIENT_TEMPLATES,
    DEFAULTS,
    STAFF_CHANNELS,
    STAFF_TEMPLATES,
    MessageTemplate,
    TemplateInvalid,
    TemplateKey,
    render,
)
from halcyon.shared.errors import NotFound, RuleViolation

# Dosing-day sample used to check that an agency's client template leaks nothing clinical.
SAMPLE_CLIENT_CONTEXT: Mapping[str, Any] = {
    "given_name": "Sam",
    "appointment_label": "appointment",
    "when": "2026-12-01 09:00 MST",
    "unsubscribe_url": "https://example.invalid/unsubscribe/x",
    "lead": "tomorrow",
    "expires": "2026-11-30 18:00 UTC",
}
# Any variable a default staff template uses, so an agency variant can use them too.
SAMPLE_STAFF_CONTEXT: Mapping[str, Any] = {
    "title": "Alert",
    "site_id": "site",
    "client_id": "client",
    "breaches": ["x"],
    "measured_at": "t",
    "instrument": "i",
    "reason": "r",
    "raised_at": "t",
    "substance": "s",
    "lot_id": "l",
    "balance": 1,
    "threshold": 2,
    "registration_id": "r",
    "expected": 1,
    "counted": 1,
    "suspected_theft_or_loss": False,
    "kind": "k",
    "due_on": "d",
    "overdue": False,
    "staff_name": "n",
    "credential_type": "c",
    "identifier": "i",
    "expires_on": "d",
    "days_left": 1,
    "claim_id": "c",
    "appointment_type": "a",
    "starts_at": "t",
    "protocol_id": "p",
    "failed_conditions": [{"code": "c", "detail": "d"}],
    "stage": "due_soon",
    "session_on": "d",
    "payer_id": "p",
    "denial_codes": ["x"],
    "delivery_id": "d",
    "channel": "c",
    "recipient_kind": "k",
    "recipient_id": "r",
    "attempts": 1,
    "error": "e",
}


def check_agency_template(template: str, channel: str, candidate: MessageTemplate) -> None:
    """Refuse an agency's variant that could not be sent as it is (before it is saved)."""
    is_client = template in CLIENT_TEMPLATES
    if not is_client and template not in STAFF_TEMPLATES:
        raise NotFound(f"no template {template!r}")
    if channel not in (CLIENT_CHANNELS if is_client else STAFF_CHANNELS):
        raise RuleViolation(f"template {template!r} has no {channel!r} variant")
    context = SAMPLE_CLIENT_CONTEXT if is_client else SAMPLE_STAFF_CONTEXT
    try:
        rendered = render(candidate, context)
    except TemplateInvalid as exc:
        raise RuleViolation(f"template does not render: {exc}") from exc
    if is_client:
        leaked = clinical_terms_in(" ".join([rendered.subject, rendered.text, rendered.html or ""]))
        if leaked:
            raise RuleViolation("a message to clients may not name clinical details", terms=leaked)


def over_defaults(
    agency: Iterable[tuple[TemplateKey, MessageTemplate]],
) -> list[tuple[TemplateKey, MessageTemplate]]:
    """The agency's templates over the defaults, in key order."""
    merged = dict(DEFAULTS)
    merged.update(agency)
    return sorted(merged.items())
