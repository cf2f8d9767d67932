"""SPRAVATO REMS Patient Monitoring Form: due 7 of the site's local days after the
session, reminded two days before and once overdue (issue 18, item 9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from clinical_testkit import (  # type: ignore[import-not-found]
    ClinicalHarness,
    clear_for_dosing,
    clinical,
    new_tenant,
    register,
)
from halcyon.clinical.domain.protocols import ESKETAMINE_REMS, MDMA_PTSD
from halcyon.clinical.domain.rems import form_deadline, stages_due
from halcyon.clinical.usecases.rems import remind, track_forms
from halcyon.shared.protocol_floors import FLOORS

DENVER = ZoneInfo("America/Denver")


def test_due_on_the_sites_seventh_local_day_not_the_utc_one() -> None:
    # 19:30 in Denver on Monday 2 March is already Tuesday in UTC.
    ended = datetime(2026, 3, 2, 19, 30, tzinfo=DENVER)
    deadline = form_deadline(ended.astimezone(UTC), "America/Denver", 7)
    assert deadline.session_on == date(2026, 3, 2)
    assert deadline.due_on == date(2026, 3, 9)
    # The end of the due day is local midnight, across the 8 March DST change (UTC-6).
    assert deadline.due_at == datetime(2026, 3, 10, 6, 0, tzinfo=UTC)


def test_reminders_two_days_before_and_once_overdue() -> None:
    due_at = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    assert stages_due(due_at, due_at - timedelta(days=2, seconds=1), []) == []
    assert stages_due(due_at, due_at - timedelta(days=2), []) == ["due_soon"]
    assert stages_due(due_at, due_at - timedelta(days=1), ["due_soon"]) == []
    assert stages_due(due_at, due_at, ["due_soon"]) == ["overdue"]
    assert stages_due(due_at, due_at + timedelta(days=3), ["due_soon", "overdue"]) == []
    # Found late (the service was down): only the overdue reminder still makes sense.
    assert stages_due(due_at, due_at + timedelta(hours=1), []) == ["overdue"]


def test_clinical_session_rules_meet_the_shared_floors() -> None:
    rems = FLOORS["esketamine-trd"]
    assert ESKETAMINE_REMS.session.minimum_monitoring_minutes == rems.monitoring_minutes
    assert ESKETAMINE_REMS.session.monitoring_form_due_days == rems.monitoring_form_due_days
    assert tuple(ESKETAMINE_REMS.session.required_bp_phases) == rems.bp_checks
    assert MDMA_PTSD.session.monitoring_form_due_days is None


# -- on the real servers: a signed REMS session gets its form, reminders, submission -----

__all__ = ["clinical"]  # the fixture, used by name below


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


@pytest.mark.integration
async def test_signed_rems_session_is_tracked_reminded_and_closed(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    await clear_for_dosing(clinical, tenant, client["id"], "esketamine-trd")
    nurse = clinical.headers(tenant, "nurse-1", ("site-1", "therapist"))
    dosed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    ended = dosed + timedelta(minutes=130)
    note = await clinical.http.post(
        f"/clients/{client['id']}/notes",
        json={
            "kind": "dosing",
            "site_id": "site-1",
            "template_id": "builtin:dosing",
            "started_at": _iso(dosed - timedelta(minutes=15)),
            "ended_at": _iso(ended),
            "clinicians": [{"staff_id": "nurse-1", "role": "therapist"}],
            "diagnoses": ["F33.2"],
            "content": {"narrative": "n", "discharge_status": "stable"},
            "dosing": {
                "protocol_id": "esketamine-trd",
                "medicine": "esketamine",
                "dose_mg": 56,
                "administered_at": _iso(dosed),
                "therapist_ids": ["nurse-1"],
            },
        },
        headers=nurse,
    )
    assert note.status_code == 201, note.text
    note_id = note.json()["id"]
    for minutes in (-10, 38, 125):
        reading = await clinical.http.post(
            f"/clients/{client['id']}/vitals",
            json={
                "protocol_id": "esketamine-trd",
                "site_id": "site-1",
                "encounter_id": note_id,
                "measured_at": _iso(dosed + timedelta(minutes=minutes)),
                "systolic_mmhg": 130,
                "diastolic_mmhg": 82,
            },
            headers=nurse,
        )
        assert reading.status_code == 201, reading.text
    signed = await clinical.http.post(f"/notes/{note_id}/sign", json={}, headers=nurse)
    assert signed.status_code == 200, signed.text

    runtime = clinical.app.state.runtime
    now = datetime.now(UTC)
    await track_forms(runtime, now)
    forms = await clinical.http.get(f"/clients/{client['id']}/rems-forms", headers=nurse)
    [form] = forms.json()
    assert form["note_id"] == note_id
    assert form["status"] == "open"
    assert date.fromisoformat(form["due_on"]) - date.fromisoformat(form["session_on"]) == (
        timedelta(days=7)
    )
    # Six days later: one "due soon" reminder, queued once however often the sweep runs.
    assert await remind(runtime, now + timedelta(days=6)) == 1
    assert await remind(runtime, now + timedelta(days=6)) == 0
    form = (await clinical.http.get(f"/clients/{client['id']}/rems-forms", headers=nurse)).json()[0]
    assert form["reminders_sent"] == ["due_soon"]
    # Submitted: no overdue reminder afterwards.
    done = await clinical.http.post(
        f"/rems-forms/{note_id}/submitted",
        json={"submitted_on": (now + timedelta(days=6)).date().isoformat()},
        headers=nurse,
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "submitted", done.text
    assert await remind(runtime, now + timedelta(days=9)) == 0
    again = await clinical.http.post(
        f"/rems-forms/{note_id}/submitted",
        json={"submitted_on": (now + timedelta(days=6)).date().isoformat()},
        headers=nurse,
    )
    assert again.status_code == 409
