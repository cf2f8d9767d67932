"""Calendar: day and week per site by clinician or room in the site's zone; book from a
free slot; cancel with a reason; check-in/start/complete; the waitlist."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from halcyon.console.api import Api, ApiError
from halcyon.console.sessions import Session
from halcyon.console.web import PREFIX, Console, current, error_words, read_form, redirect

router = APIRouter(prefix=PREFIX)
HOURS = list(range(7, 21))
STEPS = {"check-in": "Check in", "start": "Start", "complete": "Complete", "no-show": "No-show"}


async def staff_name(api: Api, session: Session, staff_id: str) -> str:
    """A clinician's name from scheduling's read model, cached in the person's session."""
    if staff_id not in session.names:
        known = await api.soft(f"/api/scheduling/clinicians/{staff_id}", {})
        session.names[staff_id] = str(known.get("display_name") or staff_id[-6:])
    return session.names[staff_id]


async def client_names(api: Api, ids: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for client_id in ids:
        client = await api.soft(f"/api/clinical/clients/{client_id}", {})
        names[client_id] = (
            f"{client.get('given_name', '')} {client.get('family_name', '')}".strip()
            or "client " + client_id[-6:]
        )
    return names


def local_start(appointment: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(appointment["starts_at_local"]))


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    current(request)
    return redirect(f"{PREFIX}/calendar")


@router.get("/calendar")
async def calendar(
    request: Request, day: str = "", view: str = "day", by: str = "clinician"
) -> Response:
    console, session, api = current(request)
    site = session.site_id
    tz = ZoneInfo(session.zone)
    try:
        first = date.fromisoformat(day) if day else datetime.now(tz).date()
    except ValueError:
        first = datetime.now(tz).date()
    view = "week" if view == "week" else "day"
    by = "room" if by == "room" else "clinician"
    if view == "week":
        first = first - timedelta(days=first.weekday())
    days = [first + timedelta(days=i) for i in range(7 if view == "week" else 1)]
    errors: list[str] = []
    appointments: list[dict[str, Any]] = []
    rooms: list[dict[str, Any]] = []
    waitlist: list[dict[str, Any]] = []
    if site:
        try:
            appointments = await api.items("/api/scheduling/appointments", 200, site_id=site)
            rooms = await api.items("/api/scheduling/rooms", 100, site_id=site)
            listed = await api.soft("/api/scheduling/waitlist", {"items": []}, site_id=site)
            waitlist = [w for w in listed.get("items", []) if w.get("status") != "booked"]
        except ApiError as exc:
            errors = exc.words
    shown = [
        a for a in appointments if local_start(a).date() in days and a.get("status") != "cancelled"
    ]
    room_names = {str(r["id"]): str(r["name"]) for r in rooms}
    names = await client_names(api, {str(a["client_id"]) for a in shown})
    columns: dict[str, str] = {}
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in sorted(shown, key=local_start):
        start = local_start(a)
        keys: list[tuple[str, str]] = []
        if by == "room":
            rid = str(a.get("room_id") or "none")
            columns[rid] = room_names.get(rid, "No room")
            keys.append((rid, ""))
        else:
            for c in a.get("clinicians", []):
                sid = str(c["staff_id"])
                columns[sid] = await staff_name(api, session, sid)
                keys.append((sid, ""))
        slot = f"{start.hour:02d}" if view == "day" else start.date().isoformat()
        entry = {
            **a,
            "client_name": names.get(str(a["client_id"]), ""),
            "room_name": room_names.get(str(a.get("room_id") or ""), ""),
            "time": start.strftime("%H:%M"),
            "end": str(a["ends_at_local"])[11:16],
        }
        for column, _ in keys:
            cells.setdefault((column, slot), []).append(entry)
    if by == "room":
        for r in rooms:
            columns.setdefault(str(r["id"]), str(r["name"]))
    return console.render(
        request,
        "calendar.html",
        session,
        days=days,
        view=view,
        by=by,
        hours=HOURS,
        columns=columns,
        cells=cells,
        errors=errors,
        waitlist=waitlist,
        client_names=await client_names(api, {str(w["client_id"]) for w in waitlist[:20]}),
        prev=(first - timedelta(days=len(days))).isoformat(),
        next=(first + timedelta(days=len(days))).isoformat(),
        first=first,
    )


@router.get("/book")
async def book_page(
    request: Request,
    client_id: str = "",
    name: str = "",
    appointment_type: str = "",
    day: str = "",
) -> Response:
    console, session, api = current(request)
    return await _book_page(request, console, session, api, client_id, name, appointment_type, day)


async def _book_page(
    request: Request,
    console: Console,
    session: Session,
    api: Api,
    client_id: str,
    name: str,
    appointment_type: str,
    day: str,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    errors = list(errors or [])
    tz = ZoneInfo(session.zone)
    try:
        start = date.fromisoformat(day) if day else datetime.now(tz).date()
    except ValueError:
        start = datetime.now(tz).date()
    types = await api.soft("/api/scheduling/appointment-types", [])
    if isinstance(types, dict):
        types = types.get("items", [])
    matches: list[dict[str, Any]] = []
    if name and not client_id:
        try:
            matches = await api.items("/api/clinical/clients", 20, name=name)
        except ApiError as exc:
            errors += exc.words
    client = await api.soft(f"/api/clinical/clients/{client_id}", None) if client_id else None
    slots: list[dict[str, Any]] = []
    if client and appointment_type and session.site_id:
        try:
            found = await api.get(
                "/api/scheduling/free-slots",
                site_id=session.site_id,
                appointment_type=appointment_type,
                from_date=start.isoformat(),
                to_date=(start + timedelta(days=6)).isoformat(),
                limit=40,
            )
            slots = found.get("slots", [])
            for slot in slots:
                slot["names"] = [
                    await staff_name(api, session, str(c["staff_id"])) for c in slot["clinicians"]
                ]
                slot["clinician_value"] = ",".join(
                    f"{c['staff_id']}:{c['role']}" for c in slot["clinicians"]
                )
        except ApiError as exc:
            errors += exc.words
    rooms = await api.soft("/api/scheduling/rooms", {"items": []}, site_id=session.site_id)
    return console.render(
        request,
        "book.html",
        session,
        status=status,
        client=client,
        client_id=client_id,
        name=name,
        matches=matches,
        types=types,
        appointment_type=appointment_type,
        day=start.isoformat(),
        slots=slots,
        rooms={str(r["id"]): r["name"] for r in rooms.get("items", [])},
        errors=errors,
    )


@router.post("/book")
async def book(request: Request) -> Response:
    console, session, api = current(request)
    form = await read_form(request, session)
    clinicians = []
    for pair in form.get("clinicians", "").split(","):
        staff_id, _, role = pair.partition(":")
        if staff_id:
            clinicians.append({"staff_id": staff_id, "role": role or "therapist"})
    body: dict[str, Any] = {
        "client_id": form.get("client_id", ""),
        "site_id": session.site_id or "",
        "appointment_type": form.get("appointment_type", ""),
        "starts_at": form.get("starts_at", ""),
        "clinicians": clinicians,
        "room_id": form.get("room_id") or None,
    }
    try:
        booked = await api.post("/api/scheduling/appointments", body)
    except ApiError as exc:
        return await _book_page(
            request,
            console,
            session,
            api,
            body["client_id"],
            "",
            body["appointment_type"],
            form.get("day", ""),
            errors=exc.words,
            status=exc.status,
        )
    return redirect(f"{PREFIX}/appointments/{booked['id']}?booked=1")


@router.get("/appointments/{appointment_id}")
async def appointment_page(request: Request, appointment_id: str, booked: int = 0) -> Response:
    console, session, api = current(request)
    return await _appointment_page(request, console, session, api, appointment_id, booked=booked)


async def _appointment_page(
    request: Request,
    console: Console,
    session: Session,
    api: Api,
    appointment_id: str,
    errors: list[str] | None = None,
    values: dict[str, str] | None = None,
    booked: int = 0,
    status: int = 200,
) -> Response:
    try:
        appointment = await api.get(f"/api/scheduling/appointments/{appointment_id}")
    except ApiError as exc:
        return console.render(request, "error.html", session, errors=exc.words, status=exc.status)
    clinicians = [
        {**c, "name": await staff_name(api, session, str(c["staff_id"]))}
        for c in appointment.get("clinicians", [])
    ]
    names = await client_names(api, {str(appointment["client_id"])})
    return console.render(
        request,
        "appointment.html",
        session,
        status=status,
        a=appointment,
        clinicians=clinicians,
        client_name=names[str(appointment["client_id"])],
        steps=STEPS,
        errors=errors or [],
        values=values or {},
        booked=booked,
    )


@router.post("/appointments/{appointment_id}/cancel")
async def cancel(request: Request, appointment_id: str) -> Response:
    console, session, api = current(request)
    form = await read_form(request, session)
    reason = form.get("reason", "").strip()
    if not reason:
        return await _appointment_page(
            request,
            console,
            session,
            api,
            appointment_id,
            errors=["Give a reason for the cancellation."],
            values=dict(form),
            status=422,
        )
    try:
        await api.post(f"/api/scheduling/appointments/{appointment_id}/cancel", {"reason": reason})
    except ApiError as exc:
        return await _appointment_page(
            request,
            console,
            session,
            api,
            appointment_id,
            errors=error_words(exc),
            values=dict(form),
            status=exc.status,
        )
    return redirect(f"{PREFIX}/appointments/{appointment_id}")


@router.post("/appointments/{appointment_id}/reschedule")
async def reschedule(request: Request, appointment_id: str) -> Response:
    """Edit to reschedule: a new start in the site's local time, same people and room."""
    console, session, api = current(request)
    form = await read_form(request, session)
    errors: list[str] = []
    status = 422
    try:
        appointment = await api.get(f"/api/scheduling/appointments/{appointment_id}")
        local = datetime.fromisoformat(form.get("starts_local", "").strip())
        starts_at = local.replace(tzinfo=ZoneInfo(str(appointment["site_timezone"])))
        await api.post(
            f"/api/scheduling/appointments/{appointment_id}/reschedule",
            {"starts_at": starts_at.isoformat()},
        )
    except ValueError:
        errors = ["Give the new start as a date and time, e.g. 2026-12-01 10:00."]
    except ApiError as exc:
        errors = error_words(exc)
        status = exc.status
    if errors:
        return await _appointment_page(
            request,
            console,
            session,
            api,
            appointment_id,
            errors=errors,
            values=dict(form),
            status=status,
        )
    return redirect(f"{PREFIX}/appointments/{appointment_id}?rescheduled=1")


@router.post("/appointments/{appointment_id}/step/{step}")
async def step(request: Request, appointment_id: str, step: str) -> Response:
    console, session, api = current(request)
    await read_form(request, session)
    if step not in STEPS:
        return redirect(f"{PREFIX}/appointments/{appointment_id}")
    try:
        await api.post(f"/api/scheduling/appointments/{appointment_id}/{step}")
    except ApiError as exc:
        return await _appointment_page(
            request, console, session, api, appointment_id, errors=exc.words, status=exc.status
        )
    return redirect(f"{PREFIX}/appointments/{appointment_id}")
