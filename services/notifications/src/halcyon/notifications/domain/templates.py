"""Message templates: Jinja2 in a sandbox, per agency, with language variants and defaults.

Templates are data an agency admin edits, so they render in a ``SandboxedEnvironment``
(no attribute tricks reach Python internals) with ``StrictUndefined`` (a typo fails at
save time, not silently at send time). HTML bodies autoescape; text bodies and SMS don't.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

CLIENT_TEMPLATES = (
    "appointment_booked",
    "appointment_rescheduled",
    "appointment_cancelled",
    "appointment_reminder",
    "waitlist_offer",
)
STAFF_TEMPLATES = (
    "vitals_alert",
    "safety_alert",
    "stock_low",
    "discrepancy_opened",
    "compliance_deadline",
    "credential_expiring",
    "claim_denied",
    "delivery_dead",
    "dosing_session_flagged",
    "rems_form_due",
)
CLIENT_CHANNELS = ("email", "sms")
STAFF_CHANNELS = ("inbox", "email")
DEFAULT_LANGUAGE = "en"

_text_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
_html_env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


class TemplateInvalid(ValueError):
    """An agency template does not compile or does not render with the standard context."""


@dataclass(frozen=True)
class MessageTemplate:
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str | None = None


TemplateKey = tuple[str, str, str]  # (template, channel, language)

_UNSUB_EN = "Reply STOP or unsubscribe: {{ unsubscribe_url }}"
_UNSUB_ES = "Para no recibir más mensajes: {{ unsubscribe_url }}"


def _email(subject: str, text: str, unsubscribe: str) -> MessageTemplate:
    html = "<p>" + text.replace("\n", "<br>") + "</p><p><small>" + unsubscribe + "</small></p>"
    return MessageTemplate(subject=subject, text=f"{text}\n\n{unsubscribe}", html=html)


DEFAULTS: dict[TemplateKey, MessageTemplate] = {
    # -- clients, English ---------------------------------------------------------------
    ("appointment_booked", "email", "en"): _email(
        "Your {{ appointment_label }} is booked",
        "Hello {{ given_name }},\nyour {{ appointment_label }} is booked for {{ when }}.",
        _UNSUB_EN,
    ),
    ("appointment_booked", "sms", "en"): MessageTemplate(
        "", "Hi {{ given_name }}, your {{ appointment_label }} is booked for {{ when }}."
    ),
    ("appointment_rescheduled", "email", "en"): _email(
        "Your {{ appointment_label }} has moved",
        "Hello {{ given_name }},\nyour {{ appointment_label }} is now on {{ when }}.",
        _UNSUB_EN,
    ),
    ("appointment_rescheduled", "sms", "en"): MessageTemplate(
        "", "Hi {{ given_name }}, your {{ appointment_label }} is now on {{ when }}."
    ),
    ("appointment_cancelled", "email", "en"): _email(
        "Your {{ appointment_label }} is cancelled",
        "Hello {{ given_name }},\nyour {{ appointment_label }} on {{ when }} is cancelled.",
        _UNSUB_EN,
    ),
    ("appointment_cancelled", "sms", "en"): MessageTemplate(
        "", "Hi {{ given_name }}, your {{ appointment_label }} on {{ when }} is cancelled."
    ),
    ("appointment_reminder", "email", "en"): _email(
        "Reminder: your {{ appointment_label }} {{ lead }}",
        "Hello {{ given_name }},\na reminder of your {{ appointment_label }} on {{ when }}.",
        _UNSUB_EN,
    ),
    ("appointment_reminder", "sms", "en"): MessageTemplate(
        "", "Reminder: {{ given_name }}, your {{ appointment_label }} is on {{ when }}."
    ),
    ("waitlist_offer", "email", "en"): _email(
        "An earlier {{ appointment_label }} is available",
        "Hello {{ given_name }},\nan {{ appointment_label }} on {{ when }} is available. "
        "Please answer by {{ expires }}.",
        _UNSUB_EN,
    ),
    ("waitlist_offer", "sms", "en"): MessageTemplate(
        "",
        "Hi {{ given_name }}, an {{ appointment_label }} on {{ when }} is available. "
        "Answer by {{ expires }}.",
    ),
    # -- clients, Spanish ---------------------------------------------------------------
    ("appointment_booked", "email", "es"): _email(
        "Su {{ appointment_label }} está reservada",
        "Hola {{ given_name }},\nsu {{ appointment_label }} está reservada para el {{ when }}.",
        _UNSUB_ES,
    ),
    ("appointment_booked", "sms", "es"): MessageTemplate(
        "", "Hola {{ given_name }}, su {{ appointment_label }} es el {{ when }}."
    ),
    ("appointment_rescheduled", "email", "es"): _email(
        "Su {{ appointment_label }} ha cambiado",
        "Hola {{ given_name }},\nsu {{ appointment_label }} es ahora el {{ when }}.",
        _UNSUB_ES,
    ),
    ("appointment_rescheduled", "sms", "es"): MessageTemplate(
        "", "Hola {{ given_name }}, su {{ appointment_label }} es ahora el {{ when }}."
    ),
    ("appointment_cancelled", "email", "es"): _email(
        "Su {{ appointment_label }} está cancelada",
        "Hola {{ given_name }},\nsu {{ appointment_label }} del {{ when }} está cancelada.",
        _UNSUB_ES,
    ),
    ("appointment_cancelled", "sms", "es"): MessageTemplate(
        "", "Hola {{ given_name }}, su {{ appointment_label }} del {{ when }} está cancelada."
    ),
    ("appointment_reminder", "email", "es"): _email(
        "Recordatorio: su {{ appointment_label }}",
        "Hola {{ given_name }},\nle recordamos su {{ appointment_label }} del {{ when }}.",
        _UNSUB_ES,
    ),
    ("appointment_reminder", "sms", "es"): MessageTemplate(
        "", "Recordatorio: {{ given_name }}, su {{ appointment_label }} es el {{ when }}."
    ),
    ("waitlist_offer", "email", "es"): _email(
        "Hay una {{ appointment_label }} disponible",
        "Hola {{ given_name }},\nhay una {{ appointment_label }} el {{ when }}. "
        "Responda antes del {{ expires }}.",
        _UNSUB_ES,
    ),
    ("waitlist_offer", "sms", "es"): MessageTemplate(
        "",
        "Hola {{ given_name }}, hay una {{ appointment_label }} el {{ when }}. "
        "Responda antes del {{ expires }}.",
    ),
    # -- staff: the inbox is inside Halcyon and may carry details; email says only "look" --
    ("vitals_alert", "inbox", "en"): MessageTemplate(
        "Vitals alert at {{ site_name }}",
        "Client {{ client_id }}: {{ breaches | join('; ') }} (measured {{ measured_at }})."
        "{% if escalated_after_minutes is defined %} Escalated: not acknowledged by the "
        "session's clinicians within {{ escalated_after_minutes }} min.{% endif %}",
    ),
    ("safety_alert", "inbox", "en"): MessageTemplate(
        "Safety alert at {{ site_name }}",
        "Client {{ client_id }}: {{ instrument }} — {{ reason }} (raised {{ raised_at }})."
        "{% if escalated_after_minutes is defined %} Escalated: not acknowledged by the "
        "session's clinicians within {{ escalated_after_minutes }} min.{% endif %}",
    ),
    ("stock_low", "inbox", "en"): MessageTemplate(
        "Low stock at {{ site_name }}",
        "{{ substance }} lot {{ lot_id }}: balance {{ balance }} below {{ threshold }}.",
    ),
    ("discrepancy_opened", "inbox", "en"): MessageTemplate(
        "Inventory discrepancy at {{ site_name }}",
        "Registration {{ registration_id }}: expected {{ expected }}, counted {{ counted }}"
        "{% if suspected_theft_or_loss %} (suspected theft or loss){% endif %}.",
    ),
    ("compliance_deadline", "inbox", "en"): MessageTemplate(
        "Compliance deadline at {{ site_name }}",
        "{{ kind }} due on {{ due_on }}{% if overdue %} (OVERDUE){% endif %}.",
    ),
    ("credential_expiring", "inbox", "en"): MessageTemplate(
        "Credential expiring",
        "{{ staff_name }}: {{ credential_type }} {{ identifier }} expires on {{ expires_on }} "
        "({{ days_left }} days).",
    ),
    ("claim_denied", "inbox", "en"): MessageTemplate(
        "Claim denied",
        "Claim {{ claim_id }} to payer {{ payer_id }} was denied "
        "({{ denial_codes | join(', ') }}).",
    ),
    ("dosing_session_flagged", "inbox", "en"): MessageTemplate(
        "Dosing session no longer cleared",
        "Client {{ client_id }}: the {{ appointment_type }} session on {{ starts_at }} "
        "({{ protocol_id }}) will be refused at check-in and dosing: "
        "{% for c in failed_conditions %}{{ c.detail }}{% if not loop.last %}; "
        "{% endif %}{% endfor %}.",
    ),
    ("rems_form_due", "inbox", "en"): MessageTemplate(
        "REMS Patient Monitoring Form {% if stage == 'overdue' %}overdue{% else %}due{% endif %}",
        "Client {{ client_id }}: the monitoring form for the session of {{ session_on }} is "
        "due by {{ due_on }}{% if stage == 'overdue' %} and is OVERDUE{% endif %}.",
    ),
    ("delivery_dead", "inbox", "en"): MessageTemplate(
        "A message could not be delivered",
        "Delivery {{ delivery_id }} by {{ channel }} to {{ recipient_kind }} {{ recipient_id }} "
        "failed {{ attempts }} times: {{ error }}.",
    ),
}
for _key in STAFF_TEMPLATES:
    DEFAULTS[(_key, "email", "en")] = MessageTemplate(
        "Halcyon: {{ title }}",
        "{{ title }}. Please sign in to Halcyon to see the details.",
        "<p>{{ title }}. Please sign in to Halcyon to see the details.</p>",
    )


def choose(
    template: str,
    channel: str,
    language: str | None,
    agency: Mapping[TemplateKey, MessageTemplate],
) -> MessageTemplate:
    """Agency's variant in the language, then the agency's default language, then ours."""
    lang = (language or DEFAULT_LANGUAGE).split("-")[0].lower()
    for source in (agency, DEFAULTS):
        for candidate in (lang, DEFAULT_LANGUAGE):
            found = source.get((template, channel, candidate))
            if found is not None:
                return found
    raise KeyError(f"no template {template!r} for channel {channel!r}")


def render(template: MessageTemplate, context: Mapping[str, Any]) -> RenderedMessage:
    try:
        return RenderedMessage(
            subject=_text_env.from_string(template.subject).render(context).strip(),
            text=_text_env.from_string(template.text).render(context).strip(),
            html=_html_env.from_string(template.html).render(context) if template.html else None,
        )
    except TemplateError as exc:  # includes SecurityError and UndefinedError
        raise TemplateInvalid(str(exc)) from exc
