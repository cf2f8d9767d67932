"""The whole journey of an MDMA-assisted therapy course, through the gateway, on every
service as its own process, on the real Kafka and FerretDB; then one trace per action.

The journey test keeps going after a step a user would see as wrong (it records a
finding and fails at the end), so one service bug does not hide the state of the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.spans import read_spans, trace_tree

from tests.e2e.journey import (
    BILLING_ADDRESS,
    DENVER,
    WITHIN,
    book,
    booking_codes,
    charges_of,
    client_email,
    era_835,
    iso,
    local_day,
    mails,
    new_lot,
    ok,
    receive,
    register_client,
    research_stock,
    set_up_agency,
    until_ok,
    x12valid,
)
from tests.e2e.platform import Gateway, Platform

pytestmark = pytest.mark.integration

# What the trace test needs from the journey (the journey runs first, in file order).
JOURNEY: dict[str, Any] = {}


@pytest.mark.timeout(900)
# One client's whole course, step after step, reads best as one script.
async def test_mdma_course_from_registration_to_remittance(  # noqa: C901
    e2e_gateway: Gateway, tmp_path: Path
) -> None:
    gw = e2e_gateway
    course = await set_up_agency(gw)
    JOURNEY["course"] = course
    JOURNEY["traces"] = gw.traces  # filled as the journey goes
    s = course.staff
    site = course.site_id
    findings = course.findings

    def soft(condition: bool, finding: str) -> bool:
        if not condition:
            findings.append(finding)
        return condition

    # -- front desk registers a client --------------------------------------------------
    course.client_id = await register_client(gw, course)
    course.client_email = client_email(course, "Grace")
    client = course.client_id
    chart = ok(await gw.get(f"/api/clinical/clients/{client}", s.lead))
    assert chart["given_name"] == "Grace"
    assert chart["mrn"]

    # Billing set-up by the biller while the client reaches billing's read model.
    await until_ok(gw, f"/api/billing/clients/{client}/charges", s.biller)
    ok(
        await gw.put(
            f"/api/billing/sites/{site}/billing-profile",
            s.biller,
            json={
                "provider_name": "Halcyon Boulder",
                "npi": "1679576722",
                "tax_id": "123456789",
                "address": BILLING_ADDRESS,
                "submitter_id": "HALCYONSUB",
                "receiver_id": "RECV01",
            },
        )
    )
    payer = ok(
        await gw.post(
            "/api/billing/payers",
            s.biller,
            json={"name": "Acme Health", "payer_id": "60054", "claim_filing_indicator": "CI"},
        ),
        201,
    )["id"]
    ok(
        await gw.post(
            f"/api/billing/clients/{client}/coverages",
            s.biller,
            json={
                "payer": payer,
                "rank": "primary",
                "starts_on": "2026-01-01",
                "member_id": "M123",
                "relationship": "self",
                "subscriber": {
                    "given_name": "Grace",
                    "family_name": "Hopper",
                    "date_of_birth": "1985-12-09",
                    "sex": "F",
                    "address": BILLING_ADDRESS,
                },
            },
        ),
        201,
    )
    rates = {"90791": 25000, "0820T": 20000, "0821T": 15000}
    for cpt, rate in rates.items():
        ok(
            await gw.post(
                "/api/billing/fee-schedules",
                s.biller,
                json={
                    "site_id": site,
                    "payer": payer,
                    "cpt": cpt,
                    "modifiers": [],
                    "rate_cents": rate,
                    "starts_on": "2026-01-01",
                },
            ),
            201,
        )

    # -- intake note signed -----------------------------------------------------------
    now = datetime.now(UTC).replace(microsecond=0)
    intake = ok(
        await gw.post(
            f"/api/clinical/clients/{client}/notes",
            s.lead,
            json={
                "kind": "intake",
                "site_id": site,
                "template_id": "builtin:intake",
                "started_at": iso(now - timedelta(days=1, hours=1)),
                "ended_at": iso(now - timedelta(days=1)),
                "clinicians": [{"staff_id": s.lead.id, "role": "therapist"}],
                "diagnoses": ["F43.10"],
                "psychotherapy_minutes": 60,
                "content": {
                    "presenting_problem": "nightmares since deployment",
                    "history": "no psychosis, no cardiac history",
                    "mental_status": "oriented, euthymic",
                    "risk_assessment": "low",
                    "plan": "screen for MDMA-assisted therapy",
                },
            },
        ),
        201,
    )
    signed_intake = ok(
        await gw.post(
            f"/api/clinical/notes/{intake['id']}/sign", s.lead, json={}, traced_as="sign-intake"
        )
    )
    assert signed_intake["status"] == "signed"
    assert len(signed_intake["content_hash"]) == 64

    # -- PHQ-9 and PCL-5 scored ---------------------------------------------------------
    scored = {}
    for instrument, items in (("phq9", [2, 2, 1, 2, 1, 1, 2, 1, 0]), ("pcl5", [3] * 20)):
        body = ok(
            await gw.post(
                f"/api/clinical/clients/{client}/assessments",
                s.lead,
                json={
                    "instrument": instrument,
                    "site_id": site,
                    "administered_at": iso(now - timedelta(hours=20)),
                    "items": items,
                },
            ),
            201,
        )
        scored[instrument] = (body["total"], body["severity"])
    assert scored == {"phq9": (12, "moderate"), "pcl5": (60, "provisional_ptsd")}, scored

    # -- MDMA screening signed by the prescriber: eligible --------------------------------
    screening = ok(
        await gw.post(
            f"/api/clinical/clients/{client}/screenings",
            s.prescriber,
            traced_as="screening",
            json={
                "protocol_id": "mdma-ptsd",
                "history": {
                    "screened_on": now.date().isoformat(),
                    "systolic_bp": 122,
                    "diastolic_bp": 78,
                    "qtc_ms": 410,
                    "diagnoses": ["F43.10"],
                },
            },
        ),
        201,
    )
    assert screening["eligible"] is True
    assert screening["signed_by"] == s.prescriber.id
    readiness = f"/api/scheduling/clients/{client}/protocols/mdma-ptsd/readiness"
    await until_ok(gw, readiness, s.front_desk, lambda b: b["eligible_screening"] is True)

    # -- scheduling: rooms; refused: dosing before informed consent -----------------------
    dosing_room = ok(
        await gw.post(
            "/api/scheduling/rooms",
            s.admin,
            json={"site_id": site, "name": "Dosing suite", "attributes": ["dosing_room"]},
        ),
        201,
    )["id"]
    office = ok(
        await gw.post(
            "/api/scheduling/rooms",
            s.admin,
            json={"site_id": site, "name": "Office 1", "attributes": ["office"]},
        ),
        201,
    )["id"]
    dosing_at = local_day(7, time(9, 0))
    early = await book(
        gw, course, s.front_desk, "mdma_dosing", dosing_at, [s.lead, s.second], dosing_room
    )
    early_codes = booking_codes(early)
    assert "informed_consent" in early_codes, early.text
    # The reason a front desk reads: consent missing (screening passed, so not that).
    reasons = {c["code"]: c["detail"] for c in early.json()["failed_conditions"]}
    assert "eligible_screening" not in reasons, reasons
    assert "consent" in reasons["informed_consent"]
    assert "mdma-ptsd" in reasons["informed_consent"]

    # -- informed consent signed --------------------------------------------------------
    consent = ok(
        await gw.post(
            f"/api/clinical/clients/{client}/consents",
            s.lead,
            traced_as="consent",
            json={
                "kind": "psychedelic_informed",
                "protocol_id": "mdma-ptsd",
                "effective_at": iso(now - timedelta(minutes=5)),
                "signed_by_name": "Grace Hopper",
                "signed_at": iso(now - timedelta(minutes=5)),
            },
        ),
        201,
    )
    assert consent["status"] == "active"
    await until_ok(gw, readiness, s.front_desk, lambda b: b["informed_consent"] is True)

    # -- three preparation sessions booked and completed ----------------------------------
    for day in (1, 2, 3):
        prep = ok(
            await book(
                gw,
                course,
                s.front_desk,
                "mdma_preparation",
                local_day(day, time(10)),
                [s.lead],
                office,
            ),
            201,
        )
        for step in ("check-in", "start", "complete"):
            moved = ok(await gw.post(f"/api/scheduling/appointments/{prep['id']}/{step}", s.lead))
        assert moved["status"] == "completed"

    # -- dosing session booked: gating passes, two therapists, a dosing room ---------------
    dosing = await book(
        gw,
        course,
        s.front_desk,
        "mdma_dosing",
        dosing_at,
        [s.lead, s.second],
        dosing_room,
        traced_as="book-dosing",
    )
    dosing_body = ok(dosing, 201)
    course.dosing_appointment_id = dosing_body["id"]
    assert dosing_body["ends_at_local"][11:16] == "17:00"  # 8 hours
    assert {c["staff_id"] for c in dosing_body["clinicians"]} == {s.lead.id, s.second.id}
    assert dosing_body["room_id"] == dosing_room
    proposed = dosing_body["proposed_integration_sessions"]
    assert len(proposed) == 3

    # Refused: the lead therapist double-booked during the dosing session, for another
    # client in another room.
    other_client = await register_client(gw, course, "Alan")
    await until_ok(gw, f"/api/scheduling/clients/{other_client}", s.front_desk)
    clash = await gw.post(
        "/api/scheduling/appointments",
        s.front_desk,
        json={
            "client_id": other_client,
            "site_id": site,
            "appointment_type": "psychotherapy",
            "starts_at": (dosing_at + timedelta(hours=2)).isoformat(),
            "clinicians": [{"staff_id": s.lead.id, "role": "therapist"}],
            "room_id": office,
        },
    )
    assert clash.status_code == 409, clash.text
    assert clash.json()["type"].endswith("/slot-taken")
    assert clash.json()["resource_kind"] == "clinician", clash.text

    # -- integration sessions booked; confirmations by email ------------------------------
    integration_ids = []
    for offer in proposed:
        booked = ok(
            await gw.post(
                "/api/scheduling/appointments",
                s.front_desk,
                json={
                    "client_id": client,
                    "site_id": site,
                    "appointment_type": offer["appointment_type"],
                    "starts_at": offer["starts_at"],
                    "clinicians": [{"staff_id": s.lead.id, "role": "therapist"}],
                    "room_id": office,
                },
            ),
            201,
        )
        integration_ids.append((booked["id"], booked["starts_at"]))

    # -- the session day: check in, MDMA received on a Form 222, dispensed with a witness --
    for step in ("check-in", "start"):
        ok(
            await gw.post(
                f"/api/scheduling/appointments/{course.dosing_appointment_id}/{step}",
                s.nurse,
                traced_as=f"dosing-{step}",
            )
        )
    stock = await research_stock(gw, s, site, "Halcyon Boulder")
    course.registration_id, course.location_id = stock.registration_id, stock.location_id
    course.lot_id = await new_lot(gw, s, stock, "MD-2026-01")

    await receive(gw, s, stock, course.lot_id, 100, "222-2026-000101")
    first_dose_at = now - timedelta(hours=3)

    def dose(quantity: float, at: datetime, supplemental: bool = False) -> dict[str, Any]:
        return {
            "appointment_id": course.dosing_appointment_id,
            "lot_id": course.lot_id,
            "location_id": course.location_id,
            "quantity_mg": quantity,
            "supplemental": supplemental,
            "administered_by": s.nurse.id,
            "witness_id": s.lead.id,
            "prescriber_id": s.prescriber.id,
            "administered_at": iso(at),
        }

    async def dispense(body: dict[str, Any], traced_as: str | None = None) -> Any:
        """Retried only while inventory has not yet heard of the checked-in session."""

        async def attempt() -> Any:
            response = await gw.post(
                "/api/inventory/dispenses", s.nurse, json=body, traced_as=traced_as
            )
            waiting = response.status_code == 422 and (
                "has not told inventory" in response.text or "doses are dispensed" in response.text
            )
            return None if waiting else response

        return await eventually(attempt, within=WITHIN, interval=0.5, message="session known")

    # Refused: 120 mg from a lot holding 100 mg; nothing is written.
    balances = f"/api/inventory/registrations/{course.registration_id}/balances"
    ledger_url = f"/api/inventory/registrations/{course.registration_id}/ledger"
    before = ok(await gw.get(balances, s.compliance))
    entries_before = ok(await gw.get(ledger_url, s.compliance, params={"limit": 100}))["items"]
    short = await dispense(dose(120, first_dose_at))
    assert short.status_code == 409, short.text
    soft("stock" in short.text.lower() or "short" in short.text.lower(), f"409: {short.text}")
    assert ok(await gw.get(balances, s.compliance)) == before
    entries_after = ok(await gw.get(ledger_url, s.compliance, params={"limit": 100}))["items"]
    assert len(entries_after) == len(entries_before)
    await receive(gw, s, stock, course.lot_id, 300, "222-2026-000102")
    first = ok(await dispense(dose(120, first_dose_at), traced_as="dispense"), 201)
    second = ok(
        await dispense(dose(60, first_dose_at + timedelta(hours=2), supplemental=True)), 201
    )
    course.dose_ids = [first["id"], second["id"]]
    after = ok(await gw.get(balances, s.compliance))
    JOURNEY["balances"] = (before, after)
    soft("220" in str(after), f"balance after 400 received and 180 dispensed: {after}")

    # -- vitals every 30 minutes; one over the threshold alerts the on-call clinician -----
    readings = [
        (128, 82, 88),
        (142, 88, 96),
        (150, 92, 104),
        (172, 96, 108),
        (148, 90, 98),
        (136, 84, 90),
    ]
    alerts = []
    for n, (systolic, diastolic, pulse) in enumerate(readings):
        body = ok(
            await gw.post(
                f"/api/clinical/clients/{client}/vitals",
                s.nurse,
                traced_as="vitals-alert" if systolic > 160 else None,
                json={
                    "protocol_id": "mdma-ptsd",
                    "site_id": site,
                    "measured_at": iso(first_dose_at + timedelta(minutes=30 * n)),
                    "systolic_mmhg": systolic,
                    "diastolic_mmhg": diastolic,
                    "pulse_per_min": pulse,
                },
            ),
            201,
        )
        alerts.append(body["breaches"])
    assert alerts == [[], [], [], ["systolic 172 > 160 mmHg"], [], []], alerts

    async def vitals_inbox(who: Any) -> list[dict[str, Any]]:
        response = await gw.get("/api/notifications/inbox", who)
        assert response.status_code == 200, response.text
        return [i for i in response.json()["items"] if i["kind"] == "vitals_alert"]

    # The people in the room hear first (issue 18): the session's therapists; on-call
    # staff only if neither acknowledges it within the protocol's minutes.
    [alert] = await eventually(
        lambda: vitals_inbox(s.lead),
        within=WITHIN,
        interval=0.5,
        message="vitals alert in the session therapist's inbox",
    )
    assert "systolic 172" in alert["body"]
    assert alert["severity"] == "urgent"
    acknowledged = ok(await gw.post(f"/api/notifications/inbox/{alert['id']}/acknowledge", s.lead))
    assert acknowledged["acknowledged_at"]
    assert await vitals_inbox(s.prescriber) == []

    # -- dosing note: written by the supervised second therapist, co-signed by the lead ----
    note = ok(
        await gw.post(
            f"/api/clinical/clients/{client}/notes",
            s.second,
            json={
                "kind": "dosing",
                "site_id": site,
                "template_id": "builtin:dosing",
                "appointment_id": course.dosing_appointment_id,
                "started_at": iso(now - timedelta(hours=8)),
                "ended_at": iso(now - timedelta(minutes=5)),
                "clinicians": [
                    {
                        "staff_id": s.lead.id,
                        "role": "therapist",
                        "monitoring_role": "first",
                        "minutes": 465,
                    },
                    {
                        "staff_id": s.second.id,
                        "role": "therapist",
                        "monitoring_role": "second",
                        "minutes": 400,
                    },
                ],
                "diagnoses": ["F43.10"],
                "content": {
                    "narrative": "Session uneventful after a transient BP rise.",
                    "discharge_status": "oriented, calm, driven home by partner",
                },
                "dosing": {
                    "protocol_id": "mdma-ptsd",
                    "medicine": "mdma",
                    "dose_mg": 120,
                    "administered_at": iso(first_dose_at),
                    "supplemental_dose": {
                        "dose_mg": 60,
                        "administered_at": iso(first_dose_at + timedelta(hours=2)),
                    },
                    "monitoring_log": [
                        {
                            "at": iso(first_dose_at + timedelta(minutes=90)),
                            "observation": "BP 172/96, rechecked",
                        }
                    ],
                    "adverse_events": [],
                    "therapist_ids": [s.lead.id, s.second.id],
                },
            },
        ),
        201,
    )
    course.dosing_note_id = note["id"]
    by_second = ok(await gw.post(f"/api/clinical/notes/{note['id']}/sign", s.second, json={}))
    assert by_second["status"] == "awaiting_cosign", by_second
    assert by_second["supervisor_id"] == s.lead.id
    cosigned = ok(
        await gw.post(f"/api/clinical/notes/{note['id']}/cosign", s.lead, traced_as="cosign")
    )
    assert cosigned["status"] == "signed"
    assert cosigned["cosigned_by"] == s.lead.id

    async def doses_attached() -> list[dict[str, Any]]:
        body = ok(await gw.get(f"/api/clinical/notes/{note['id']}", s.lead))
        doses: list[dict[str, Any]] = body.get("dispensed_doses") or []
        return doses if len(doses) == 2 else []

    attached = await eventually(
        doses_attached,
        within=WITHIN,
        interval=0.5,
        message="both dispensed doses attached to the dosing note",
    )
    assert sorted(d["quantity_mg"] for d in attached) == [60, 120]

    # -- billing: 0820T and 0821T with the right units -------------------------------------
    found = await eventually(
        lambda: charges_of(gw, course, 3),
        within=WITHIN,
        interval=0.5,
        message="intake and dosing charges",
    )
    by_code = sorted((c["cpt"], c["units"], c["amount_cents"]) for c in found)
    # 465 min -> 7 h + 45 min (past the midpoint) = 8 units; 400 min -> 6 h 40 = 7 units.
    assert by_code == [("0820T", 8, 160000), ("0821T", 7, 105000), ("90791", 1, 25000)], by_code

    # -- a claim batch produces a valid 837P --------------------------------------------------
    batch = ok(
        await gw.post(
            "/api/billing/claims/batches", s.biller, json={"site_id": site, "payer": payer}
        ),
        201,
    )
    assert len(batch["claims"]) == 2, batch  # one claim per encounter
    assert batch["file"]["total_cents"] == 290000
    text = (await gw.get(f"/api/billing/claim-files/{batch['file']['id']}", s.biller)).text
    valid, output = x12valid(text, tmp_path)
    assert valid, output
    assert "SV1*HC:0820T*1600*UN*8" in text, text
    assert "SV1*HC:0821T*1050*UN*7" in text, text
    ok(await gw.post(f"/api/billing/claim-files/{batch['file']['id']}/submitted", s.biller))

    # -- integration-session reminders by email (notifications' test clock) ------------------
    await eventually(
        lambda: mails(gw, course.client_email),
        within=WITHIN,
        interval=0.5,
        message="booking confirmations by email",
    )
    _first_integration_id, first_integration_at = integration_ids[0]
    due = datetime.fromisoformat(first_integration_at) - timedelta(hours=24) + timedelta(minutes=1)
    ok(await gw.put("/api/notifications/admin/test-clock", s.admin, json={"now": due.isoformat()}))

    async def reminders() -> list[dict[str, Any]]:
        return [m for m in await mails(gw, course.client_email) if "Reminder" in m["subject"]]

    reminder = (
        await eventually(
            reminders, within=WITHIN, interval=0.5, message="integration-session reminder by email"
        )
    )[0]
    # It names the session's time in the site's zone, and nothing clinical.
    session_local = datetime.fromisoformat(first_integration_at).astimezone(DENVER)
    assert session_local.strftime("%Y-%m-%d %H:%M") in reminder["text"], reminder["text"]
    assert "mdma" not in f"{reminder['subject']} {reminder['text']}".lower()

    # -- an 835 posts payment ----------------------------------------------------------------
    dosing_claim_ref = next(c for c in batch["claims"] if c["total_cents"] == 265000)
    course.claim_id = dosing_claim_ref["id"]
    claim = ok(await gw.get(f"/api/billing/claims/{course.claim_id}", s.biller))
    remitted = ok(
        await gw.post(
            "/api/billing/remittances",
            s.biller,
            content=era_835(claim, paid=200000, patient=20000, trace="TRN0001"),
        ),
        201,
    )
    assert remitted["matched"] == 1, remitted
    paid = ok(await gw.get(f"/api/billing/claims/{course.claim_id}", s.biller))
    assert paid["status"] == "paid", paid
    assert paid["paid_cents"] == 200000, paid
    ledger = ok(await gw.get(f"/api/billing/clients/{client}/ledger", s.biller))
    assert ledger["balance_cents"] == 20000, ledger

    # -- compliance: dispensing log with every 1304.22(c) field, chain intact, audit trail ---
    log = ok(
        await gw.get(
            f"/api/inventory/registrations/{course.registration_id}/reports/dispensing-log",
            s.compliance,
            params={"schedules": "I-II", "format": "json"},
        )
    )
    rows = log["rows"]
    assert sorted(float(r["quantity_mg"]) for r in rows) == [60.0, 120.0], rows
    required = (
        "dispensed_on",
        "substance",
        "form",
        "strength_mg",
        "quantity_mg",
        "units",
        "client_name",
        "client_address",
        "administered_by",
        "witness",
        "prescriber",
        "prescriber_dea_number",
        "lot_number",
    )
    JOURNEY["dispensing_log"] = rows
    for row in rows:
        for key in required:
            soft(
                bool(row.get(key)) and "not on file" not in str(row.get(key)),
                f"dispensing log {key} = {row.get(key)!r} (21 CFR 1304.22(c))",
            )
        soft("Hopper" in row["client_name"], f"dispensed to {row['client_name']!r}")
        soft("Walnut" in row["client_address"], f"dispensed to address {row['client_address']!r}")
    # one initial dose and one supplemental dose, told apart in the log
    assert len({r["supplemental"] for r in rows}) == 2, rows
    verify = ok(
        await gw.get(
            f"/api/inventory/registrations/{course.registration_id}/ledger/verify", s.compliance
        )
    )
    assert verify["intact"] is True, verify

    async def chart_accesses() -> list[dict[str, Any]] | None:
        response = await gw.get(
            "/api/identity/audit/access", s.compliance, params={"client_id": client, "limit": 200}
        )
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["items"]
        readers = {e["user_id"] for e in entries if e["service"] == "clinical"}
        wanted = {s.front_desk.id, s.lead.id, s.second.id, s.nurse.id, s.prescriber.id}
        return entries if wanted <= readers else None

    audit = await eventually(
        chart_accesses,
        within=WITHIN,
        interval=1.0,
        message="identity's audit log shows the chart accesses",
    )
    services = {e["service"] for e in audit}
    soft({"clinical", "scheduling", "billing"} <= services, f"audited services: {services}")

    # -- refused: a user of another agency reading the chart ----------------------------------
    stranger = await gw.bootstrap_agency("Elsewhere Wellness")
    for path in (
        f"/api/clinical/clients/{client}",
        f"/api/billing/clients/{client}/ledger",
        f"/api/scheduling/clients/{client}",
    ):
        response = await gw.get(path, stranger)
        assert response.status_code in (403, 404), (path, response.status_code, response.text)
        assert "Hopper" not in response.text

    assert not findings, "\n".join(findings)


# -- traces ------------------------------------------------------------------------------


def _ancestors(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    chain = []
    while span.get("parent_span_id") in by_id:
        span = by_id[span["parent_span_id"]]
        chain.append(span)
    return chain


WRITES = {"insert", "update", "findAndModify", "delete"}

# action -> (owning service, services that consume its event and write their database)
TRACED = {
    "register:Grace": ("clinical", {"scheduling", "billing", "notifications", "inventory"}),
    "book-dosing": ("scheduling", {"notifications", "inventory"}),
    "dispense": ("inventory", {"clinical"}),
    "cosign": ("clinical", {"billing"}),
    "sign-intake": ("clinical", {"billing"}),
    "screening": ("clinical", {"scheduling"}),
    "consent": ("clinical", {"scheduling"}),
    "dosing-check-in": ("scheduling", {"inventory"}),
    "vitals-alert": ("clinical", {"notifications"}),
}


@pytest.mark.parametrize("action", sorted(TRACED))
async def test_each_action_is_one_trace_across_gateway_services_and_kafka(
    e2e_platform: Platform, action: str
) -> None:
    platform = e2e_platform
    traces = JOURNEY.get("traces")
    if not traces or not traces.get(action):
        pytest.skip("the journey did not reach this action")
    trace_id = traces[action]
    owner, downstream = TRACED[action]

    async def complete() -> tuple[list[dict[str, Any]], set[str]] | None:
        spans = [s for s in read_spans(platform.span_file) if s["trace_id"] == trace_id]
        by_id = {s["span_id"]: s for s in spans}
        dead = [s["service"] for s in spans if s["name"].split(" ")[0].endswith(".dlq")]
        assert not dead, f"{action}: {sorted(set(dead))} dead-lettered the event"
        reached = set()
        for span in spans:
            if span["kind"] != "CLIENT" or span["attributes"].get("db.system") != "mongodb":
                continue
            if span["name"].rsplit(".", 1)[-1] not in WRITES:
                continue  # a read is not the consumer applying the event
            chain = _ancestors(span, by_id)
            consumer = next((c for c in chain if c["kind"] == "CONSUMER"), None)
            if consumer and consumer["service"] == span["service"] != owner:
                reached.add(span["service"])
        return (spans, reached) if downstream <= reached else None

    try:
        spans, _reached = await eventually(
            complete,
            within=WITHIN,
            interval=0.5,
            message=f"{action}: every consumer's write in the trace",
        )
    except AssertionError as error:
        spans = [s for s in read_spans(platform.span_file) if s["trace_id"] == trace_id]
        raise AssertionError(f"{error}\n{trace_tree(spans, trace_id)}") from None
    tree = trace_tree(spans, trace_id)
    by_id = {s["span_id"]: s for s in spans}
    # One user action, one trace: no later request may have joined it (a leaked request
    # context makes the next requests on a keep-alive connection its children).
    requests = [
        s
        for s in spans
        if s["service"] == "gateway"
        and s["kind"] in {"SERVER", "INTERNAL"}
        and s["name"].split(" ")[0] in {"GET", "POST", "PUT", "PATCH", "DELETE"}
        and " http " not in s["name"]
    ]
    assert len(requests) == 1, f"{action}: {len(requests)} gateway requests in one trace\n{tree}"
    roots = [s for s in spans if s["parent_span_id"] not in by_id]
    assert len(roots) == 1, tree
    assert roots[0]["service"] == "gateway", tree
    assert roots[0]["kind"] == "SERVER", tree
    [owner_server] = [s for s in spans if s["service"] == owner and s["kind"] == "SERVER"]
    # the owner's request span is a child of the gateway's outgoing call
    parent = by_id[owner_server["parent_span_id"]]
    assert parent["service"] == "gateway", tree
    assert parent["kind"] == "CLIENT", tree
    producers = [s for s in spans if s["service"] == owner and s["kind"] == "PRODUCER"]
    assert producers, tree
    for service in downstream:
        consumers = [s for s in spans if s["service"] == service and s["kind"] == "CONSUMER"]
        assert consumers, tree
        # each consumer's parent is the owner's producer span: the Kafka hop is an edge
        assert any(
            by_id.get(c["parent_span_id"], {}).get("service") == owner
            and by_id[c["parent_span_id"]]["kind"] == "PRODUCER"
            for c in consumers
        ), tree


async def test_every_event_the_journey_published_validates_against_the_catalogue(
    e2e_platform: Platform,
) -> None:
    """Issue 10: each event on every topic (internal and partner) matches docs/asyncapi.json."""
    import json as _json
    import re
    import time as time_module
    import uuid

    import jsonschema
    from aiokafka import AIOKafkaConsumer
    from halcyon.shared.catalogue import payload_schema
    from halcyon.shared.contracts import all_contracts
    from halcyon.shared.testing.servers import repo_root

    if not JOURNEY.get("traces"):
        pytest.skip("the journey did not run")
    document = _json.loads((repo_root() / "docs" / "asyncapi.json").read_text())
    contracts = all_contracts()
    bootstrap = e2e_platform.servers.kafka_bootstrap
    # Every topic of this platform (internal and partner), but not the dead letters.
    pattern = f"^{re.escape(e2e_platform.prefix)}.*(?<!\\.dlq)$"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"schema-check-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    consumer.subscribe(pattern=pattern)
    await consumer.start()
    checked: dict[str, int] = {}
    problems: list[str] = []
    idle_since = time_module.monotonic()
    try:
        while time_module.monotonic() - idle_since < 8:
            batch = await consumer.getmany(timeout_ms=1000)
            if batch:
                idle_since = time_module.monotonic()
            for tp, records in batch.items():
                for record in records:
                    event = _json.loads(record.value)
                    if event.get("type") not in contracts:
                        problems.append(f"{tp.topic}: undocumented type {event.get('type')}")
                        continue
                    schema = payload_schema(document, event["type"])
                    try:
                        jsonschema.validate(event, schema)
                    except jsonschema.ValidationError as error:
                        problems.append(f"{tp.topic} {event['type']}: {error.message}")
                    checked[event["type"]] = checked.get(event["type"], 0) + 1
    finally:
        await consumer.stop()
    assert not problems, "\n".join(problems[:20])
    # The journey touched every context: the check saw many kinds of event, not a few.
    assert sum(checked.values()) > 50, checked
    assert len(checked) >= 12, checked
    # The partner feeds too: both versions of the dose report, and the session report.
    assert {
        "halcyon.partner.registry_dose.reported.v1",
        "halcyon.partner.registry_dose.reported.v2",
        "halcyon.partner.registry_session.reported.v1",
    } <= set(checked), checked
