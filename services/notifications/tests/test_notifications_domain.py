"""Unit tests of the notifications rules (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import product
from zoneinfo import ZoneInfo

import pytest
from halcyon.notifications.domain import deliveries as d
from halcyon.notifications.domain.privacy import appointment_label, clinical_terms_in
from halcyon.notifications.domain.quiet_hours import QuietHours, next_allowed, send_time
from halcyon.notifications.domain.recipients import (
    ClientContact,
    ClientPreferences,
    StaffAlertPreferences,
    StaffMember,
    client_channel,
    staff_channels,
    urgent_alert_recipients,
    with_roles,
)
from halcyon.notifications.domain.reminders import plan_reminders
from halcyon.notifications.domain.templates import (
    CLIENT_CHANNELS,
    CLIENT_TEMPLATES,
    DEFAULTS,
    MessageTemplate,
    TemplateInvalid,
    choose,
    render,
)
from halcyon.notifications.links import read_unsubscribe_token, unsubscribe_token

DENVER = ZoneInfo("America/Denver")
# Words that would reveal psychedelic-assisted treatment or a diagnosis to whoever reads
# the client's phone or mailbox (HIPAA minimum necessary, 42 CFR Part 2).
FORBIDDEN = [
    "mdma",
    "psilocybin",
    "ketamine",
    "esketamine",
    "dosing",
    "dose",
    "ptsd",
    "diagnosis",
    "psychedelic",
    "medication",
    "medicine",
    "protocol",
    "preparation",
    "integration",
    "psychotherapy",
]


# -- no clinical details to clients ---------------------------------------------------------
@pytest.mark.parametrize("language", ["en", "es", "fr"])
def test_every_client_template_renders_a_dosing_appointment_without_clinical_words(
    language: str,
) -> None:
    label = appointment_label("mdma_dosing", language, share_details=False)
    context = {
        "given_name": "Sam",
        "appointment_label": label,
        "when": "2026-12-01 09:00 MST",
        "unsubscribe_url": "https://halcyon.example/unsubscribe/abc",
        "lead": "tomorrow",
        "expires": "2026-11-30 18:00 UTC",
        # Whatever else a caller might wrongly pass is not used by any client template.
        "appointment_type": "mdma_dosing",
        "protocol_id": "mdma-ptsd",
    }
    rendered_any = 0
    for template, channel in product(CLIENT_TEMPLATES, CLIENT_CHANNELS):
        message = render(choose(template, channel, language, {}), context)
        whole = " ".join([message.subject, message.text, message.html or ""]).lower()
        found = [word for word in FORBIDDEN if word in whole.replace("_", " ")]
        assert not found, f"{template}/{channel}/{language} says {found}: {whole!r}"
        rendered_any += 1
    assert rendered_any == len(CLIENT_TEMPLATES) * len(CLIENT_CHANNELS)


def test_client_who_opted_in_sees_the_appointment_kind() -> None:
    assert appointment_label("mdma_dosing", "en", share_details=True) == "mdma dosing"
    assert appointment_label("mdma_dosing", "es", share_details=False) == "cita"


def test_clinical_terms_are_found_even_when_glued_with_underscores() -> None:
    assert clinical_terms_in("Your MDMA_dosing visit") == ["dosing", "mdma"]
    assert clinical_terms_in("Your appointment is booked") == []


# -- templates -------------------------------------------------------------------------------
def test_language_variant_then_agency_override_then_default() -> None:
    assert (
        choose("appointment_booked", "sms", "es-MX", {})
        is DEFAULTS[("appointment_booked", "sms", "es")]
    )
    assert (
        choose("appointment_booked", "sms", "de", {})
        is DEFAULTS[("appointment_booked", "sms", "en")]
    )
    ours = MessageTemplate("", "Agency says hi {{ given_name }}")
    agency = {("appointment_booked", "sms", "en"): ours}
    assert choose("appointment_booked", "sms", "de", agency) is ours
    # The agency's own wording (in its default language) wins over our translation.
    assert choose("appointment_booked", "sms", "es", agency) is ours


def test_templates_are_sandboxed_and_html_autoescaped() -> None:
    with pytest.raises(TemplateInvalid):
        render(MessageTemplate("", "{{ ''.__class__.__mro__[1].__subclasses__() }}"), {})
    with pytest.raises(TemplateInvalid):
        render(MessageTemplate("", "{{ missing_variable }}"), {})
    message = render(
        MessageTemplate("s", "{{ name }}", "<p>{{ name }}</p>"), {"name": "<script>x</script>"}
    )
    assert message.text == "<script>x</script>"
    assert message.html == "<p>&lt;script&gt;x&lt;/script&gt;</p>"


# -- reminders -------------------------------------------------------------------------------
def test_reminders_are_due_24h_and_2h_before_and_late_ones_are_skipped() -> None:
    starts = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    plans = {p.kind: p for p in plan_reminders(starts, now=starts - timedelta(days=3))}
    assert plans["24h"].due_at == starts - timedelta(hours=24)
    assert plans["2h"].due_at == starts - timedelta(hours=2)
    assert not plans["24h"].skipped
    assert not plans["2h"].skipped
    booked_late = {p.kind: p for p in plan_reminders(starts, now=starts - timedelta(hours=5))}
    assert booked_late["24h"].skipped
    assert not booked_late["2h"].skipped


# -- quiet hours -----------------------------------------------------------------------------
QUIET = QuietHours(time(21, 0), time(8, 0))


def local(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=DENVER).astimezone(UTC)


def test_quiet_hours_defer_to_the_morning_in_the_clients_time_zone() -> None:
    assert next_allowed(local(22, 30), DENVER, QUIET) == local(8, 0, day=2)
    assert next_allowed(local(6, 15), DENVER, QUIET) == local(8, 0)
    assert next_allowed(local(12, 0), DENVER, QUIET) == local(12, 0)
    assert next_allowed(local(22, 30), DENVER, None) == local(22, 30)


def test_a_reminder_is_not_deferred_past_the_appointment() -> None:
    early = local(6, 30)
    assert send_time(early, DENVER, QUIET, too_late_at=local(9, 0)) == local(8, 0)
    assert send_time(early, DENVER, QUIET, too_late_at=local(7, 30)) is None
    assert send_time(local(12, 0), DENVER, QUIET, too_late_at=local(14, 0)) == local(12, 0)


def test_daytime_quiet_window() -> None:
    lunch = QuietHours(time(12, 0), time(13, 0))
    assert next_allowed(local(12, 30), DENVER, lunch) == local(13, 0)
    assert next_allowed(local(13, 0), DENVER, lunch) == local(13, 0)


# -- deliveries ------------------------------------------------------------------------------
def test_delivery_ids_are_deterministic_per_cause_rule_recipient_and_channel() -> None:
    one = d.delivery_id("evt-1", "appointment_booked", "client", "c1", "email")
    assert one == d.delivery_id("evt-1", "appointment_booked", "client", "c1", "email")
    assert one != d.delivery_id("evt-2", "appointment_booked", "client", "c1", "email")
    assert one != d.delivery_id("evt-1", "appointment_booked", "client", "c1", "sms")


def test_failures_back_off_exponentially_then_die() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first = d.after_failure(0, max_attempts=3, now=now, base_seconds=10)
    second = d.after_failure(1, max_attempts=3, now=now, base_seconds=10)
    third = d.after_failure(2, max_attempts=3, now=now, base_seconds=10)
    assert (first.status, first.next_attempt_at) == (d.QUEUED, now + timedelta(seconds=10))
    assert (second.status, second.next_attempt_at) == (d.QUEUED, now + timedelta(seconds=20))
    assert (third.status, third.attempts, third.next_attempt_at) == (d.DEAD, 3, None)


# -- recipients ------------------------------------------------------------------------------
def staff(sid: str, *roles: tuple[str, str], on_call: tuple[str, ...] = ()) -> StaffMember:
    return StaffMember(sid, sid, f"{sid}@x.test", tuple(roles), on_call)


def test_urgent_alerts_go_to_the_sites_on_call_clinician_or_else_admins() -> None:
    nurse = staff("nurse", ("s1", "nurse"), on_call=("s1",))
    other = staff("other", ("s2", "prescriber"), on_call=("s2",))
    admin = staff("admin", ("*", "agency_admin"))
    assert urgent_alert_recipients([nurse, other, admin], "s1") == [nurse]
    assert urgent_alert_recipients([other, admin], "s1") == [admin]
    assert with_roles([nurse, admin], {"agency_admin"}, "s9") == [admin]


def test_urgent_alerts_always_reach_the_inbox_even_if_muted() -> None:
    member = staff("n", ("s1", "nurse"))
    muted = StaffAlertPreferences(alerts={"vitals_alert": ("email",), "stock_low": ()})
    assert staff_channels("vitals_alert", member, muted) == ["inbox", "email"]
    assert staff_channels("stock_low", member, muted) == []
    assert staff_channels("stock_low", member, StaffAlertPreferences()) == ["inbox", "email"]
    quiet = StaffAlertPreferences(preferred_channel="none")
    assert staff_channels("safety_alert", member, quiet) == ["inbox"]


def test_client_channel_follows_preference_when_an_address_exists() -> None:
    both = ClientContact("c", "Sam", "s1", email="s@x.test", phone="+15550001")
    assert client_channel(both, ClientPreferences()) == "email"
    assert client_channel(both, ClientPreferences(channel="sms")) == "sms"
    phone_only = ClientContact("c", "Sam", "s1", phone="+15550001")
    assert client_channel(phone_only, ClientPreferences(channel="email")) == "sms"
    assert client_channel(ClientContact("c", "Sam", "s1"), ClientPreferences()) is None


def test_unsubscribe_tokens_cannot_be_forged() -> None:
    token = unsubscribe_token("secret", "agency-1", "client-1")
    assert read_unsubscribe_token("secret", token) == ("agency-1", "client-1")
    assert read_unsubscribe_token("other-secret", token) is None
    _, _, sig = token.partition(".")
    forged = unsubscribe_token("secret", "agency-1", "client-2").split(".")[0]
    assert read_unsubscribe_token("secret", f"{forged}.{sig}") is None


# -- the controllable clock exists only in tests --------------------------------------------
async def test_the_clock_cannot_be_moved_outside_the_test_environment() -> None:
    from typing import Any, cast

    from halcyon.notifications.clock import ServiceClock
    from halcyon.notifications.settings import NotificationsSettings

    assert not NotificationsSettings(environment="development").test_clock_enabled
    assert NotificationsSettings(environment="test").test_clock_enabled
    clock = ServiceClock(cast(Any, {"service_settings": None}), controllable=False)
    with pytest.raises(RuntimeError):
        await clock.set_now(datetime(2030, 1, 1, tzinfo=UTC))
    await clock.refresh()  # a no-op: production time is never offset
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_production_refuses_the_development_webhook_secret() -> None:
    from halcyon.notifications.settings import NotificationsSettings
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        NotificationsSettings(environment="production", field_encryption_key="k" * 32)
