"""Esketamine (SPRAVATO, under the REMS) and supervised psilocybin end to end through the
gateway, like the MDMA journey; and the gates that hold at every step (ADR 0403/0404):
a revoked consent or an ineligible screening refuses check-in and dispensing, naming the
condition, and restoring them allows it again; the MDMA floors cannot be loosened and a
dose needs both therapists in the room."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from halcyon.shared.testing.plugin import eventually

from tests.e2e.journey import (
    BILLING_ADDRESS,
    NEXT_YEAR,
    WITHIN,
    Course,
    ResearchStock,
    book,
    charges_of,
    iso,
    local_day,
    new_lot,
    ok,
    receive,
    register_client,
    research_stock,
    set_up_agency,
    until_ok,
)
from tests.e2e.platform import Gateway, Person

pytestmark = pytest.mark.integration

ESKETAMINE_DEA = "BC1234563"  # a practitioner registration for Schedule III
PSILOCYBIN_DEA = "BC2345672"  # a researcher registration for the psilocybin protocol
CALM = {"systolic_bp": 122, "diastolic_bp": 78, "qtc_ms": 410}


def failed(response: httpx.Response, slug: str) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"].endswith(f"/{slug}"), body
    return {c["code"] for c in body["failed_conditions"]}


async def billing_for(gw: Gateway, course: Course, rates: dict[str, int]) -> None:
    s, client = course.staff, course.client_id
    await until_ok(gw, f"/api/billing/clients/{client}/charges", s.biller)
    ok(
        await gw.put(
            f"/api/billing/sites/{course.site_id}/billing-profile",
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
    for cpt, rate in rates.items():
        ok(
            await gw.post(
                "/api/billing/fee-schedules",
                s.biller,
                json={
                    "site_id": course.site_id,
                    "payer": payer,
                    "cpt": cpt,
                    "modifiers": [],
                    "rate_cents": rate,
                    "starts_on": "2026-01-01",
                },
            ),
            201,
        )


async def screen(gw: Gateway, course: Course, protocol_id: str, **history: Any) -> dict[str, Any]:
    body: dict[str, Any] = ok(
        await gw.post(
            f"/api/clinical/clients/{course.client_id}/screenings",
            course.staff.prescriber,
            json={
                "protocol_id": protocol_id,
                "history": {
                    "screened_on": datetime.now(UTC).date().isoformat(),
                    "diagnoses": ["F33.2"],
                    **CALM,
                    **history,
                },
            },
        ),
        201,
    )
    return body


async def consent(gw: Gateway, course: Course, protocol_id: str) -> str:
    signed = iso(datetime.now(UTC) - timedelta(minutes=5))
    body = ok(
        await gw.post(
            f"/api/clinical/clients/{course.client_id}/consents",
            course.staff.lead,
            json={
                "kind": "psychedelic_informed",
                "protocol_id": protocol_id,
                "effective_at": signed,
                "signed_by_name": "Grace Hopper",
                "signed_at": signed,
            },
        ),
        201,
    )
    return str(body["id"])


async def ready(gw: Gateway, course: Course, protocol_id: str, **wanted: bool) -> None:
    path = f"/api/scheduling/clients/{course.client_id}/protocols/{protocol_id}/readiness"
    await until_ok(
        gw, path, course.staff.front_desk, lambda b: all(b[k] is v for k, v in wanted.items())
    )


async def room(gw: Gateway, course: Course, name: str, attributes: list[str]) -> str:
    body = ok(
        await gw.post(
            "/api/scheduling/rooms",
            course.staff.admin,
            json={"site_id": course.site_id, "name": name, "attributes": attributes},
        ),
        201,
    )
    return str(body["id"])


async def step(
    gw: Gateway, course: Course, appointment_id: str, what: str, present: list[Person] | None = None
) -> httpx.Response:
    body = {"present_staff_ids": [p.id for p in present]} if present is not None else None
    return await gw.post(
        f"/api/scheduling/appointments/{appointment_id}/{what}", course.staff.nurse, json=body
    )


async def stock_of(
    gw: Gateway,
    course: Course,
    *,
    dea: str,
    kind: str,
    schedule: str,
    protocol_id: str | None,
    product: dict[str, Any],
) -> ResearchStock:
    s = course.staff
    registration = ok(
        await gw.post(
            "/api/inventory/registrations",
            s.compliance,
            json={
                "site_id": course.site_id,
                "dea_number": dea,
                "registrant_name": "Halcyon Boulder",
                "kind": kind,
                "schedules": [schedule],
                "protocol_id": protocol_id,
                "expires_on": NEXT_YEAR.isoformat(),
            },
        ),
        201,
    )["id"]
    product_id = ok(
        await gw.post(
            "/api/inventory/products",
            s.admin,
            json={"schedule": schedule, "units_per_container": 1, **product},
        ),
        201,
    )["id"]
    location = ok(
        await gw.post(
            "/api/inventory/locations",
            s.compliance,
            json={"registration_id": registration, "name": "Safe", "kind": "safe"},
        ),
        201,
    )["id"]
    ok(
        await gw.post(
            f"/api/inventory/registrations/{registration}/inventories",
            s.compliance,
            json={"kind": "initial", "taken_at": "opening", "items": []},
        ),
        201,
    )
    return ResearchStock(registration, product_id, location)


async def dispense(
    gw: Gateway, course: Course, body: dict[str, Any], until: int | set[str]
) -> httpx.Response:
    """Retried while inventory's read models catch up, until the answer is ``until``: a
    status code, or a refusal naming exactly these conditions."""

    async def attempt() -> httpx.Response | None:
        response = await gw.post("/api/inventory/dispenses", course.staff.nurse, json=body)
        if isinstance(until, int):
            return response if response.status_code == until else None
        if response.status_code == 422 and response.json().get("type", "").endswith(
            "/dose-refused"
        ):
            codes = {c["code"] for c in response.json()["failed_conditions"]}
            return response if codes == until else None
        return None

    answer: httpx.Response = await eventually(
        attempt, within=WITHIN, interval=0.5, message=f"dispense answered {until}"
    )
    return answer


def dose(
    course: Course, stock: ResearchStock, lot: str, appointment: str, mg: float, at: datetime
) -> dict[str, Any]:
    s = course.staff
    return {
        "appointment_id": appointment,
        "lot_id": lot,
        "location_id": stock.location_id,
        "quantity_mg": mg,
        "administered_by": s.nurse.id,
        "witness_id": s.lead.id,
        "prescriber_id": s.prescriber.id,
        "administered_at": iso(at),
    }


async def sign(gw: Gateway, who: Person, note_id: str) -> dict[str, Any]:
    body: dict[str, Any] = ok(await gw.post(f"/api/clinical/notes/{note_id}/sign", who, json={}))
    return body


async def codes_billed(gw: Gateway, course: Course, want: int) -> list[tuple[str, int]]:
    found = await eventually(
        lambda: charges_of(gw, course, want), within=WITHIN, interval=0.5, message="charges"
    )
    return sorted((c["cpt"], c["units"]) for c in found)


# ------------------------------------------------------------------------------------


@pytest.mark.timeout(600)
async def test_esketamine_course_under_the_rems_through_the_gateway(e2e_gateway: Gateway) -> None:
    gw = e2e_gateway
    course = await set_up_agency(
        gw,
        "Halcyon Esketamine",
        [{"number": ESKETAMINE_DEA, "schedules": ["III"], "expires_on": "2030-01-01"}],
    )
    s = course.staff
    course.client_id = await register_client(gw, course)
    await billing_for(gw, course, {"S0013": 1500, "0820T": 20000})
    assert (await screen(gw, course, "esketamine-trd"))["eligible"] is True
    await consent(gw, course, "esketamine-trd")
    await ready(gw, course, "esketamine-trd", informed_consent=True, eligible_screening=True)

    # REMS-certified setting: a room without the attribute is refused, then booked.
    office = await room(gw, course, "Office", ["office"])
    certified = await room(gw, course, "Treatment room", ["rems_certified"])
    at = local_day(2, time(10))
    plain = await book(gw, course, s.front_desk, "esketamine_dosing", at, [s.lead], office)
    assert "room_attribute" in failed(plain, "booking-refused")
    booked = ok(
        await book(gw, course, s.front_desk, "esketamine_dosing", at, [s.lead], certified), 201
    )
    assert booked["protocol_id"] == "esketamine-trd"
    assert booked["ends_at_local"][11:16] == "12:30"  # 150 min: the REMS' 2 h and more
    ok(await step(gw, course, booked["id"], "check-in"))
    ok(await step(gw, course, booked["id"], "start"))

    # Inventory: a Schedule III practitioner registration; 56 mg is two 28 mg devices.
    stock = await stock_of(
        gw,
        course,
        dea=ESKETAMINE_DEA,
        kind="practitioner",
        schedule="III",
        protocol_id=None,
        product={
            "substance": "esketamine",
            "form": "nasal spray device",
            "strength_mg": 28,
            "ndc": "50458-028-00",
        },
    )
    lot = await new_lot(gw, s, stock, "SPR-2026-01")
    await receive(gw, s, stock, lot, 280, "")
    now = datetime.now(UTC).replace(microsecond=0)
    dosed = now - timedelta(hours=2, minutes=40)
    given = await dispense(gw, course, dose(course, stock, lot, booked["id"], 56, dosed), 201)
    assert Decimal(given.json()["quantity_mg"]) == 56  # exact mg, as a decimal string

    # Dosing note with the REMS blood pressures: before, ~40 min after, before discharge.
    note = ok(
        await gw.post(
            f"/api/clinical/clients/{course.client_id}/notes",
            s.lead,
            json={
                "kind": "dosing",
                "site_id": course.site_id,
                "template_id": "builtin:dosing",
                "appointment_id": booked["id"],
                "started_at": iso(dosed - timedelta(minutes=20)),
                "ended_at": iso(now - timedelta(minutes=5)),
                "clinicians": [
                    {
                        "staff_id": s.lead.id,
                        "role": "therapist",
                        "monitoring_role": "first",
                        "minutes": 150,
                    }
                ],
                "diagnoses": ["F33.2"],
                "content": {
                    "narrative": "Dissociation resolved by 90 min.",
                    "discharge_status": "alert",
                },
                "dosing": {
                    "protocol_id": "esketamine-trd",
                    "medicine": "esketamine",
                    "dose_mg": 56,
                    "administered_at": iso(dosed),
                    "therapist_ids": [s.lead.id],
                },
            },
        ),
        201,
    )
    early = await gw.post(f"/api/clinical/notes/{note['id']}/sign", s.lead, json={})
    assert early.status_code == 422, early.text
    assert "post_dose_40min" in early.text, early.text
    for phase, minutes in (("pre_dose", -10), ("post_dose_40min", 41), ("discharge", 150)):
        ok(
            await gw.post(
                f"/api/clinical/clients/{course.client_id}/vitals",
                s.nurse,
                json={
                    "protocol_id": "esketamine-trd",
                    "site_id": course.site_id,
                    "encounter_id": note["id"],
                    "phase": phase,
                    "measured_at": iso(dosed + timedelta(minutes=minutes)),
                    "systolic_mmhg": 134,
                    "diastolic_mmhg": 84,
                },
            ),
            201,
        )
    signed = await sign(gw, s.lead, note["id"])
    assert signed["status"] == "signed"
    read = ok(await gw.get(f"/api/clinical/notes/{note['id']}", s.lead))
    assert read["rems_monitoring_form_due"] is not None

    # Billed: the drug by the milligram (HCPCS S0013) and the monitoring hours (0820T).
    assert await codes_billed(gw, course, 2) == [("0820T", 2), ("S0013", 56)]


@pytest.mark.timeout(600)
async def test_psilocybin_course_through_the_gateway(e2e_gateway: Gateway) -> None:
    gw = e2e_gateway
    course = await set_up_agency(
        gw,
        "Halcyon Psilocybin",
        [
            {
                "number": PSILOCYBIN_DEA,
                "schedules": ["I"],
                "expires_on": "2030-01-01",
                "protocol_id": "psilocybin-trd",
            }
        ],
    )
    s = course.staff
    course.client_id = await register_client(gw, course)
    await billing_for(gw, course, {"0820T": 20000, "90837": 15000})
    assert (await screen(gw, course, "psilocybin-trd"))["eligible"] is True
    await consent(gw, course, "psilocybin-trd")
    await ready(gw, course, "psilocybin-trd", informed_consent=True, eligible_screening=True)
    office = await room(gw, course, "Office", ["office"])
    dosing_room = await room(gw, course, "Dosing suite", ["dosing_room"])
    at = local_day(3, time(9))
    early = await book(gw, course, s.front_desk, "psilocybin_dosing", at, [s.lead], dosing_room)
    assert failed(early, "booking-refused") == {"preparation_sessions"}
    prep = ok(
        await book(
            gw,
            course,
            s.front_desk,
            "psilocybin_preparation",
            local_day(1, time(10)),
            [s.lead],
            office,
        ),
        201,
    )
    for what in ("check-in", "start", "complete"):
        ok(await step(gw, course, prep["id"], what))
    booked = ok(
        await book(gw, course, s.front_desk, "psilocybin_dosing", at, [s.lead], dosing_room), 201
    )
    assert booked["ends_at_local"][11:16] == "15:00"  # 6 hours
    assert [p["appointment_type"] for p in booked["proposed_integration_sessions"]] == [
        "psilocybin_integration"
    ]
    ok(await step(gw, course, booked["id"], "check-in"))
    ok(await step(gw, course, booked["id"], "start"))

    stock = await stock_of(
        gw,
        course,
        dea=PSILOCYBIN_DEA,
        kind="researcher",
        schedule="I",
        protocol_id="psilocybin-trd",
        product={"substance": "psilocybin", "form": "capsule", "strength_mg": 5},
    )
    lot = await new_lot(gw, s, stock, "PSI-2026-01")
    await receive(gw, s, stock, lot, 100, "222-2026-000201")
    now = datetime.now(UTC).replace(microsecond=0)
    dosed = now - timedelta(hours=6, minutes=40)

    async def wrong_dose() -> httpx.Response | None:
        body = dose(course, stock, lot, booked["id"], 30, dosed)
        response = await gw.post("/api/inventory/dispenses", s.nurse, json=body)
        return response if "outside protocol" in response.text else None

    wrong = await eventually(wrong_dose, within=WITHIN, interval=0.5, message="dose rules")
    assert "25 mg" in wrong.text, wrong.text
    ok(await dispense(gw, course, dose(course, stock, lot, booked["id"], 25, dosed), 201), 201)

    note = ok(
        await gw.post(
            f"/api/clinical/clients/{course.client_id}/notes",
            s.lead,
            json={
                "kind": "dosing",
                "site_id": course.site_id,
                "template_id": "builtin:dosing",
                "appointment_id": booked["id"],
                "started_at": iso(dosed - timedelta(minutes=20)),
                "ended_at": iso(now - timedelta(minutes=5)),
                "clinicians": [
                    {
                        "staff_id": s.lead.id,
                        "role": "therapist",
                        "monitoring_role": "first",
                        "minutes": 390,
                    }
                ],
                "diagnoses": ["F33.2"],
                "content": {"narrative": "Peak at 2 h; settled.", "discharge_status": "oriented"},
                "dosing": {
                    "protocol_id": "psilocybin-trd",
                    "medicine": "psilocybin",
                    "dose_mg": 25,
                    "administered_at": iso(dosed),
                    "therapist_ids": [s.lead.id],
                },
            },
        ),
        201,
    )
    assert (await sign(gw, s.lead, note["id"]))["status"] == "signed"
    # No CPT exists for psilocybin itself: the research drug is sponsor-supplied and not
    # billed; the monitoring hours are (0820T); the preparation session is psychotherapy.
    billed = await codes_billed(gw, course, 1)
    assert ("0820T", 6) in billed, billed
    assert not any(c.startswith("S") for c, _ in billed), billed


@pytest.mark.timeout(600)
async def test_mdma_gates_hold_at_check_in_and_every_dose(e2e_gateway: Gateway) -> None:
    gw = e2e_gateway
    course = await set_up_agency(gw, "Halcyon Gates")
    s = course.staff
    course.client_id = await register_client(gw, course)
    await screen(gw, course, "mdma-ptsd", diagnoses=["F43.10"])
    consent_id = await consent(gw, course, "mdma-ptsd")
    await ready(gw, course, "mdma-ptsd", informed_consent=True, eligible_screening=True)

    # An agency admin cannot take the MDMA dosing session down to one therapist.
    types = {t["code"]: t for t in ok(await gw.get("/api/scheduling/appointment-types", s.admin))}
    alone = await gw.put(
        "/api/scheduling/appointment-types/mdma_dosing",
        s.admin,
        json={**types["mdma_dosing"], "required_roles": [{"role": "therapist", "count": 1}]},
    )
    assert alone.status_code == 422, alone.text
    assert {c["code"] for c in alone.json()["failed_conditions"]} == {"floor_clinicians"}

    office = await room(gw, course, "Office", ["office"])
    dosing_room = await room(gw, course, "Dosing suite", ["dosing_room"])
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
        for what in ("check-in", "start", "complete"):
            ok(await step(gw, course, prep["id"], what))
    booked = ok(
        await book(
            gw,
            course,
            s.front_desk,
            "mdma_dosing",
            local_day(7, time(9)),
            [s.lead, s.second],
            dosing_room,
        ),
        201,
    )
    session = booked["id"]

    # Consent revoked: the session is flagged, its therapists told; check-in refused.
    ok(await gw.post(f"/api/clinical/consents/{consent_id}/revoke", s.lead, json={}))
    # (Scheduling learns of it by event: a check-in in the moment before would pass.)
    await ready(gw, course, "mdma-ptsd", informed_consent=False)
    refused = await step(gw, course, session, "check-in", [s.lead])
    assert failed(refused, "session-refused") == {"informed_consent"}
    assert "consent" in refused.json()["detail"]

    async def told() -> list[dict[str, Any]]:
        inbox = ok(await gw.get("/api/notifications/inbox", s.second))["items"]
        return [i for i in inbox if i["kind"] == "dosing_session_flagged"]

    [notice] = await eventually(told, within=WITHIN, interval=0.5, message="therapist told")
    assert "consent" in notice["body"]

    # A later screening finds the client ineligible: both named.
    assert (await screen(gw, course, "mdma-ptsd", systolic_bp=165))["eligible"] is False
    await ready(gw, course, "mdma-ptsd", eligible_screening=False)
    refused = await step(gw, course, session, "check-in", [s.lead])
    assert failed(refused, "session-refused") == {"informed_consent", "eligible_screening"}

    # Restored: consent signed again, eligible re-screening; check-in with one therapist.
    consent_id = await consent(gw, course, "mdma-ptsd")
    await screen(gw, course, "mdma-ptsd", diagnoses=["F43.10"])
    await ready(gw, course, "mdma-ptsd", informed_consent=True, eligible_screening=True)
    checked = ok(await step(gw, course, session, "check-in", [s.lead]))
    assert checked["present_staff_ids"] == [s.lead.id]

    stock = await research_stock(gw, s, course.site_id, "Halcyon Gates")
    lot = await new_lot(gw, s, stock, "MD-GATE-01")
    await receive(gw, s, stock, lot, 300, "222-2026-000301")
    dosed = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    body = dose(course, stock, lot, session, 120, dosed)
    # One of the two therapists in the room: the dose is refused, naming the floor.
    alone_dose = await dispense(gw, course, body, {"clinicians_present"})
    assert "2 therapist(s)" in alone_dose.text
    # The consent revoked now: every dose names it too; restored, only the floor is left.
    ok(await gw.post(f"/api/clinical/consents/{consent_id}/revoke", s.lead, json={}))
    await dispense(gw, course, body, {"informed_consent", "clinicians_present"})
    await consent(gw, course, "mdma-ptsd")
    await dispense(gw, course, body, {"clinicians_present"})
    await ready(gw, course, "mdma-ptsd", informed_consent=True)

    # Starting needs both therapists; with both in the room the dose is given.
    early = await step(gw, course, session, "start")
    assert failed(early, "session-refused") == {"clinicians_present"}
    ok(await step(gw, course, session, "start", [s.lead, s.second]))
    given = await dispense(gw, course, body, 201)
    assert Decimal(given.json()["quantity_mg"]) == 120
