"""Client chart (summary, consents, Part 2 flag, alerts, notes, assessments with a trend
chart) and the dosing session live view (clock, doses with witness, vitals, alerts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from halcyon.console.api import Api, ApiError
from halcyon.console.charts import Series, Threshold, line_chart
from halcyon.console.sessions import Session
from halcyon.console.views_calendar import client_names, staff_name
from halcyon.console.web import PREFIX, Form, current, read_form, redirect, words

router = APIRouter(prefix=PREFIX)

TEMPLATES = {
    "builtin:progress-soap": ("psychotherapy", "Progress note (SOAP)"),
    "builtin:progress-dap": ("psychotherapy", "Progress note (DAP)"),
    "builtin:intake": ("intake", "Intake assessment"),
    "builtin:preparation": ("preparation", "Preparation session"),
    "builtin:dosing": ("dosing", "Dosing session"),
    "builtin:integration": ("integration", "Integration session"),
}
FIELDS = {
    "builtin:progress-soap": ["subjective", "objective", "assessment", "plan"],
    "builtin:progress-dap": ["data", "assessment", "plan"],
    "builtin:intake": ["presenting_problem", "history", "mental_status", "risk_assessment", "plan"],
    "builtin:preparation": ["intentions", "education", "plan"],
    "builtin:dosing": ["narrative", "discharge_status"],
    "builtin:integration": ["experience", "themes", "plan"],
}
DOCUMENT_CATEGORIES = {
    "consent": "Consent",
    "release_of_information": "Release of information",
    "outside_records": "Outside records",
    "identification": "Identification",
    "insurance_card": "Insurance card",
    "other": "Other",
}
PALETTE = ["#0b5cad", "#a3430b", "#2e7d32", "#6a1b9a", "#00838f"]


def iso_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def to_utc(local_value: str, zone: str) -> str:
    """A datetime-local input (the site's wall clock) as a UTC instant."""
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat(local_value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@router.get("/clients")
async def clients(request: Request, name: str = "") -> Response:
    console, session, api = current(request)
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    if name:
        try:
            found = await api.items("/api/clinical/clients", 50, name=name)
        except ApiError as exc:
            errors = exc.words
    return console.render(request, "clients.html", session, name=name, found=found, errors=errors)


def assessment_chart(items: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """One trend chart per instrument: (instrument, svg, rows)."""
    by: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if item.get("total") is not None:
            by.setdefault(str(item["instrument"]), []).append(item)
    charts = []
    for n, (instrument, rows) in enumerate(sorted(by.items())):
        rows.sort(key=lambda r: str(r["administered_at"]))
        svg = line_chart(
            [str(r["administered_at"])[:10] for r in rows],
            [Series(instrument.upper(), [float(r["total"]) for r in rows], PALETTE[n % 5])],
            title=f"{instrument.upper()} total score over time",
            height=180,
        )
        charts.append((instrument, svg, rows))
    return charts


async def chart_page(
    request: Request,
    client_id: str,
    errors: list[str] | None = None,
    values: Form | dict[str, str] | None = None,
    status: int = 200,
    tab: str = "",
) -> Response:
    console, session, api = current(request)
    try:
        client = await api.get(f"/api/clinical/clients/{client_id}")
    except ApiError as exc:
        return console.render(request, "error.html", session, errors=exc.words, status=exc.status)
    consents = await api.soft(f"/api/clinical/clients/{client_id}/consents", {"items": []})
    notes = await api.soft(f"/api/clinical/clients/{client_id}/notes", {"items": []}, limit=100)
    assessments = await api.soft(
        f"/api/clinical/clients/{client_id}/assessments", {"items": []}, limit=200
    )
    screenings = await api.soft(f"/api/clinical/clients/{client_id}/screenings", {"items": []})
    plans = await api.soft(f"/api/clinical/clients/{client_id}/treatment-plans", {"items": []})
    vitals = await api.soft(f"/api/clinical/clients/{client_id}/vitals", {"items": []}, limit=200)
    # The lists every clinic keeps: only what is current (not stopped, refuted or a mistake).
    lists = {
        kind: (
            await api.soft(
                f"/api/clinical/clients/{client_id}/{kind}", {"items": []}, current="true"
            )
        ).get("items", [])
        for kind in ("medications", "allergies", "problems")
    }
    documents = await api.soft(
        f"/api/clinical/clients/{client_id}/documents", {"items": []}, limit=100
    )
    note_items = notes.get("items", [])
    part2 = any(n.get("part2") for n in note_items) or any(
        c.get("kind", "").startswith("part2") and c.get("status") == "active"
        for c in consents.get("items", [])
    )
    alerts = [
        f"Vitals over threshold {r['measured_at'][:16].replace('T', ' ')}: "
        + "; ".join(r["breaches"])
        for r in vitals.get("items", [])
        if r.get("breaches")
    ] + [
        f"Safety screen {a['instrument'].upper()} {a['administered_at'][:10]}: "
        + str(a.get("safety_alert_reason") or a.get("risk") or "positive")
        for a in assessments.get("items", [])
        if a.get("safety_alert_id")
    ]
    team = [
        {**m, "name": await staff_name(api, session, str(m.get("staff_id", "")))}
        for m in client.get("care_team", [])
    ]
    for note in note_items:
        note["author_name"] = await staff_name(api, session, str(note.get("author_id", "")))
    appointments = await api.soft(
        "/api/scheduling/appointments",
        {"items": []},
        site_id=session.site_id,
        client_id=client_id,
        limit=50,
    )
    return console.render(
        request,
        "chart.html",
        session,
        status=status,
        c=client,
        team=team,
        consents=consents.get("items", []),
        notes=note_items,
        charts=assessment_chart(assessments.get("items", [])),
        screenings=screenings.get("items", []),
        plans=plans.get("items", []),
        part2=part2,
        alerts=alerts,
        templates=TEMPLATES,
        fields=FIELDS,
        errors=errors or [],
        values=values or {},
        tab=tab,
        appointments=appointments.get("items", []),
        lists=lists,
        documents=documents.get("items", []),
        document_categories=DOCUMENT_CATEGORIES,
    )


@router.get("/clients/{client_id}/record.{fmt}")
async def record(request: Request, client_id: str, fmt: str) -> Response:
    """The client's complete record (HIPAA right of access), as PDF or FHIR JSON."""
    _, _, api = current(request)
    suffix, media = {"pdf": (".pdf", "application/pdf"), "json": ("", "application/fhir+json")}.get(
        fmt, (".pdf", "application/pdf")
    )
    upstream = await api.raw("GET", f"/api/clinical/clients/{client_id}/record{suffix}")
    if upstream.status_code != 200:
        return await chart_page(request, client_id, errors=["The record could not be exported."])
    return Response(
        upstream.content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="record-{client_id}.{fmt}"'},
    )


@router.get("/clients/{client_id}")
async def chart(request: Request, client_id: str) -> Response:
    return await chart_page(request, client_id)


@router.get("/clients/{client_id}/note-form")
async def note_form(request: Request, client_id: str, template_id: str = "") -> Response:
    chosen = template_id if template_id in TEMPLATES else "builtin:progress-soap"
    return await chart_page(request, client_id, values={"template_id": chosen}, tab="note")


@router.post("/clients/{client_id}/notes")
async def write_note(request: Request, client_id: str) -> Response:
    _, session, api = current(request)
    form = await read_form(request, session)
    template = form.get("template_id", "builtin:progress-soap")
    kind, _ = TEMPLATES.get(template, ("psychotherapy", ""))
    content = {k: form.get(f"content_{k}", "") for k in FIELDS.get(template, [])}
    body: dict[str, Any] = {
        "kind": kind,
        "site_id": session.site_id or "",
        "template_id": template,
        "started_at": to_utc(form["started_at"], session.zone) if form.get("started_at") else "",
        "ended_at": to_utc(form["ended_at"], session.zone) if form.get("ended_at") else "",
        "clinicians": [{"staff_id": session.user_id, "role": form.get("role", "therapist")}],
        "diagnoses": [d.strip() for d in form.get("diagnoses", "").split(",") if d.strip()],
        "content": content,
    }
    if form.get("appointment_id"):
        body["appointment_id"] = form["appointment_id"]
    if form.get("psychotherapy_minutes"):
        try:
            body["psychotherapy_minutes"] = int(form["psychotherapy_minutes"])
        except ValueError:
            return await chart_page(
                request,
                client_id,
                ["Minutes of psychotherapy must be a whole number."],
                form,
                422,
                "note",
            )
    try:
        note = await api.post(f"/api/clinical/clients/{client_id}/notes", body)
    except ApiError as exc:
        return await chart_page(request, client_id, exc.words, form, exc.status, "note")
    return redirect(f"{PREFIX}/clients/{client_id}#note-{note['id']}")


@router.post("/notes/{note_id}/{action}")
async def note_action(request: Request, note_id: str, action: str) -> Response:
    _, session, api = current(request)
    form = await read_form(request, session)
    client_id = form.get("client_id", "")
    try:
        if action == "sign":
            await api.post(f"/api/clinical/notes/{note_id}/sign", {})
        elif action == "cosign":
            await api.post(f"/api/clinical/notes/{note_id}/cosign")
        elif action == "addenda":
            await api.post(
                f"/api/clinical/notes/{note_id}/addenda",
                {"text": form.get("text", ""), "reason": form.get("reason", "")},
            )
    except ApiError as exc:
        return await chart_page(request, client_id, exc.words, form, exc.status)
    return redirect(f"{PREFIX}/clients/{client_id}#note-{note_id}")


# -- dosing session live view ----------------------------------------------------------


async def _protocol(api: Api, protocol_id: str | None) -> dict[str, Any]:
    if not protocol_id:
        return {}
    listed = await api.soft("/api/clinical/protocols", [])
    items = listed.get("items", []) if isinstance(listed, dict) else listed
    return next((p for p in items if p.get("id") == protocol_id), {})


def _started_at(appointment: dict[str, Any]) -> str:
    for entry in appointment.get("history", []):
        if entry.get("status") in {"started", "in_progress"}:
            return str(entry.get("at"))
    return str(appointment.get("starts_at"))


async def _session_context(api: Api, session: Session, appointment_id: str) -> dict[str, Any]:
    appointment = await api.get(f"/api/scheduling/appointments/{appointment_id}")
    client_id = str(appointment["client_id"])
    protocol = await _protocol(api, appointment.get("protocol_id"))
    clinicians = [
        {**c, "name": await staff_name(api, session, str(c["staff_id"]))}
        for c in appointment.get("clinicians", [])
    ]
    names = await client_names(api, {client_id})
    return {
        "a": appointment,
        "client_id": client_id,
        "client_name": names[client_id],
        "protocol": protocol,
        "clinicians": clinicians,
        "started_at": _started_at(appointment),
    }


async def _live(api: Api, session: Session, ctx: dict[str, Any]) -> dict[str, Any]:
    """The parts that change during a session: readings, chart, alerts."""
    a = ctx["a"]
    readings = await api.soft(
        f"/api/clinical/clients/{ctx['client_id']}/vitals", {"items": []}, limit=200
    )
    # This session's readings: from the day it was started (it may have been booked for
    # another day and started early, e.g. in a drill).
    since = str(ctx["started_at"])[:10]
    rows = [r for r in readings.get("items", []) if str(r["measured_at"])[:10] >= since]
    rows.sort(key=lambda r: str(r["measured_at"]))
    limits = ctx["protocol"].get("vitals") or {}
    thresholds = (
        [
            Threshold(f"systolic {limits['systolic_max']}", float(limits["systolic_max"])),
            *(
                [
                    Threshold(
                        f"diastolic {limits['diastolic_max']}",
                        float(limits["diastolic_max"]),
                        "#a3430b",
                    )
                ]
                if limits.get("diastolic_max")
                else []
            ),
            *(
                [Threshold(f"pulse {limits['pulse_max']}", float(limits["pulse_max"]), "#6a1b9a")]
                if limits.get("pulse_max")
                else []
            ),
        ]
        if limits.get("systolic_max")
        else []
    )
    zone = str(a.get("site_timezone") or session.zone)
    from halcyon.console.web import local

    svg = (
        line_chart(
            [local(r["measured_at"], zone, "%H:%M") for r in rows],
            [
                Series("systolic", [r.get("systolic_mmhg") for r in rows], PALETTE[0]),
                Series("diastolic", [r.get("diastolic_mmhg") for r in rows], PALETTE[1]),
                Series("pulse", [r.get("pulse_per_min") for r in rows], PALETTE[3]),
            ],
            thresholds,
            title="Vitals during this session with the protocol's alert thresholds",
        )
        if rows
        else ""
    )
    inbox = await api.soft("/api/notifications/inbox", {"items": []}, limit=50)
    alerts = [
        i
        for i in inbox.get("items", [])
        if i.get("kind") == "vitals_alert" and str(i.get("created_at", ""))[:10] >= since
    ]
    breaches = [r for r in rows if r.get("breaches")]
    return {"readings": rows, "svg": svg, "alerts": alerts, "breaches": breaches, "zone": zone}


@router.get("/sessions/{appointment_id}")
async def live_session(request: Request, appointment_id: str) -> Response:
    return await _session_page(request, appointment_id)


async def _session_page(
    request: Request,
    appointment_id: str,
    errors: list[str] | None = None,
    values: Form | dict[str, str] | None = None,
    status: int = 200,
    done: str = "",
) -> Response:
    console, session, api = current(request)
    try:
        ctx = await _session_context(api, session, appointment_id)
    except ApiError as exc:
        return console.render(request, "error.html", session, errors=exc.words, status=exc.status)
    live = await _live(api, session, ctx)
    stock: list[dict[str, Any]] = []
    registrations = await api.soft("/api/inventory/registrations", {"items": []})
    for reg in registrations.get("items", []):
        if reg.get("site_id") == ctx["a"]["site_id"]:
            balances = await api.soft(
                f"/api/inventory/registrations/{reg['id']}/balances", {"items": []}
            )
            stock += [b for b in balances.get("items", []) if float(b.get("qty_mg", 0) or 0) > 0]
    return console.render(
        request,
        "session.html",
        session,
        status=status,
        **ctx,
        **live,
        stock=stock,
        staff=await _people_in_the_room(api, session, ctx),
        errors=errors or [],
        values=values or {},
        done=done,
    )


async def _people_in_the_room(
    api: Api, session: Session, ctx: dict[str, Any]
) -> list[dict[str, Any]]:
    """Who may administer, witness or prescribe: the agency's staff list where the person
    may read it (admins, compliance); otherwise the people this session involves — the
    signed-in nurse, both therapists, and the prescriber who signed the client's
    screening for this protocol. Inventory checks each one's role at the site anyway."""
    listed = await api.soft("/api/identity/staff", {"items": []}, limit=200)
    if listed.get("items"):
        return list(listed["items"])
    roles: dict[str, set[str]] = {session.user_id: session.roles_at(ctx["a"]["site_id"])}
    for clinician in ctx["clinicians"]:
        roles.setdefault(str(clinician["staff_id"]), set()).add(str(clinician["role"]))
    screenings = await api.soft(
        f"/api/clinical/clients/{ctx['client_id']}/screenings", {"items": []}
    )
    for screening in screenings.get("items", []):
        if screening.get("signed_by") and screening.get("protocol_id") == ctx["a"].get(
            "protocol_id"
        ):
            roles.setdefault(str(screening["signed_by"]), set()).add("prescriber")
    return [
        {
            "id": staff_id,
            "display_name": await staff_name(api, session, staff_id),
            "roles": [{"role": r} for r in sorted(held)],
        }
        for staff_id, held in roles.items()
    ]


@router.get("/sessions/{appointment_id}/live")
async def live_fragment(request: Request, appointment_id: str) -> Response:
    console, session, api = current(request)
    try:
        ctx = await _session_context(api, session, appointment_id)
    except ApiError as exc:
        return HTMLResponse(f"<p role='alert'>{' '.join(exc.words)}</p>", status_code=200)
    live = await _live(api, session, ctx)
    return console.render(request, "session_live.html", session, **ctx, **live)


@router.post("/sessions/{appointment_id}/vitals")
async def record_vitals(request: Request, appointment_id: str) -> Response:
    _, session, api = current(request)
    form = await read_form(request, session)
    try:
        appointment = await api.get(f"/api/scheduling/appointments/{appointment_id}")
        body: dict[str, Any] = {
            "protocol_id": appointment.get("protocol_id") or form.get("protocol_id", ""),
            "site_id": appointment["site_id"],
            "measured_at": iso_now(),
        }
        for name in ("systolic_mmhg", "diastolic_mmhg", "pulse_per_min", "spo2_percent"):
            if form.get(name, "").strip():
                body[name] = int(form[name])
        if form.get("temperature_c", "").strip():
            body["temperature_c"] = float(form["temperature_c"])
        reading = await api.post(f"/api/clinical/clients/{appointment['client_id']}/vitals", body)
    except ValueError:
        return await _session_page(request, appointment_id, ["Vitals must be numbers."], form, 422)
    except ApiError as exc:
        return await _session_page(request, appointment_id, exc.words, form, exc.status)
    done = (
        "Reading recorded. ALERT: " + "; ".join(reading["breaches"])
        if reading.get("breaches")
        else "Reading recorded."
    )
    return await _session_page(request, appointment_id, done=done)


@router.post("/sessions/{appointment_id}/doses")
async def administer(request: Request, appointment_id: str) -> Response:
    _, session, api = current(request)
    form = await read_form(request, session)
    lot_id, _, location_id = form.get("stock", "").partition("|")
    try:
        body = {
            "appointment_id": appointment_id,
            "lot_id": lot_id,
            "location_id": location_id,
            "quantity_mg": float(form.get("quantity_mg", "0") or 0),
            "supplemental": form.get("supplemental") == "on",
            "administered_by": form.get("administered_by") or session.user_id,
            "witness_id": form.get("witness_id", ""),
            "prescriber_id": form.get("prescriber_id", ""),
            "administered_at": iso_now(),
        }
        await api.post("/api/inventory/dispenses", body)
    except ValueError:
        return await _session_page(
            request, appointment_id, ["The dose must be a number."], form, 422
        )
    except ApiError as exc:
        return await _session_page(request, appointment_id, exc.words, form, exc.status)
    kind = "Supplemental dose" if body["supplemental"] else "Dose"
    return await _session_page(
        request, appointment_id, done=f"{kind} of {body['quantity_mg']:g} mg recorded."
    )


__all__ = ["router", "words"]
