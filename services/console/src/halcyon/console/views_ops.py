"""Inventory, billing, admin and inbox screens."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from halcyon.console.api import ApiError
from halcyon.console.web import PREFIX, Form, current, read_form, redirect

router = APIRouter(prefix=PREFIX)
REPORTS = {"dispensing-log": "Dispensing log", "biennial-inventory": "Biennial inventory"}
FORMATS = {"csv": "text/csv", "pdf": "application/pdf"}
# DEA keeps schedule I-II records apart from III-V (21 CFR 1304.04(f)).
SCHEDULE_GROUPS = ("I-II", "III-V")


# -- inventory --------------------------------------------------------------------------


async def _inventory(
    request: Request,
    registration_id: str = "",
    errors: list[str] | None = None,
    values: Form | dict[str, str] | None = None,
    status: int = 200,
    done: str = "",
) -> Response:
    console, session, api = current(request)
    registrations = (await api.soft("/api/inventory/registrations", {"items": []})).get("items", [])
    at_site = [r for r in registrations if r.get("site_id") == session.site_id] or registrations
    chosen = next(
        (r for r in at_site if r["id"] == registration_id), at_site[0] if at_site else None
    )
    balances: list[dict[str, Any]] = []
    ledger: list[dict[str, Any]] = []
    chain: dict[str, Any] = {}
    lots: dict[str, dict[str, Any]] = {}
    if chosen:
        reg = chosen["id"]
        balances = (
            await api.soft(f"/api/inventory/registrations/{reg}/balances", {"items": []}, limit=200)
        ).get("items", [])
        ledger = (
            await api.soft(f"/api/inventory/registrations/{reg}/ledger", {"items": []}, limit=100)
        ).get("items", [])
        chain = await api.soft(f"/api/inventory/registrations/{reg}/ledger/verify", {})
        for b in balances:
            lot_id = str(b.get("lot_id", ""))
            if lot_id and lot_id not in lots:
                lots[lot_id] = await api.soft(f"/api/inventory/lots/{lot_id}", {})
    discrepancies = (await api.soft("/api/inventory/discrepancies", {"items": []})).get("items", [])
    staff = (await api.soft("/api/identity/staff", {"items": []}, limit=200)).get("items", [])
    return console.render(
        request,
        "inventory.html",
        session,
        status=status,
        registrations=at_site,
        reg=chosen,
        balances=balances,
        ledger=list(reversed(ledger))[:50],
        chain=chain,
        lots=lots,
        discrepancies=discrepancies,
        staff=staff,
        reports=REPORTS,
        groups=SCHEDULE_GROUPS,
        errors=errors or [],
        values=values or {},
        done=done,
        today=date.today().isoformat(),
    )


@router.get("/inventory")
async def inventory(request: Request, registration_id: str = "") -> Response:
    return await _inventory(request, registration_id)


@router.post("/inventory/{action}")
async def inventory_action(request: Request, action: str) -> Response:
    _, session, api = current(request)
    form = await read_form(request, session)
    reg = form.get("registration_id", "")
    lot_id, _, location_id = form.get("stock", "").partition("|")
    try:
        quantity = float(form.get("quantity_mg", "") or 0)
    except ValueError:
        return await _inventory(
            request, reg, ["Quantities are in milligrams (a number)."], form, 422
        )
    try:
        if action == "wastes":
            witnesses = [w for w in (form.get("witness_1", ""), form.get("witness_2", "")) if w]
            if len(witnesses) < 2 or witnesses[0] == witnesses[1]:
                return await _inventory(
                    request,
                    reg,
                    ["A waste needs two different witnesses (21 CFR 1317.95(d))."],
                    form,
                    422,
                )
            await api.post(
                "/api/inventory/wastes",
                {
                    "lot_id": lot_id,
                    "location_id": location_id,
                    "quantity_mg": quantity,
                    "method": form.get("method", ""),
                    "reason": form.get("reason", ""),
                    "witness_ids": witnesses,
                },
            )
            done = f"Waste of {quantity:g} mg recorded with two witnesses."
        elif action == "receipts":
            await api.post(
                "/api/inventory/receipts",
                {
                    "lot_id": lot_id,
                    "location_id": location_id,
                    "quantity_mg": quantity,
                    "received_on": form.get("received_on", ""),
                    "order_form_number": form.get("order_form_number") or None,
                },
            )
            done = f"Receipt of {quantity:g} mg recorded."
        elif action == "counts":
            counted = float(form.get("counted_mg", "") or 0)
            result = await api.post(
                "/api/inventory/counts",
                {
                    "lot_id": lot_id,
                    "location_id": location_id,
                    "kind": form.get("kind", "closing"),
                    "counted_mg": counted,
                },
            )
            done = "Count recorded." + (
                " It differs from the book: a discrepancy was opened."
                if result and result.get("discrepancy_id")
                else ""
            )
        else:
            return redirect(f"{PREFIX}/inventory")
    except ValueError:
        return await _inventory(request, reg, ["Quantities are numbers."], form, 422)
    except ApiError as exc:
        return await _inventory(request, reg, exc.words, form, exc.status)
    return await _inventory(request, reg, done=done)


@router.get("/inventory/{registration_id}/reports/{report}.{fmt}")
async def report(
    request: Request, registration_id: str, report: str, fmt: str, schedules: str = "I-II"
) -> Response:
    console, session, api = current(request)
    if report not in REPORTS or fmt not in FORMATS or schedules not in SCHEDULE_GROUPS:
        return console.render(
            request, "error.html", session, errors=["No such report."], status=404
        )
    upstream = await api.raw(
        "GET",
        f"/api/inventory/registrations/{registration_id}/reports/{report}",
        params={"format": fmt, "schedules": schedules},
    )
    if upstream.status_code != 200:
        return await _inventory(
            request, registration_id, ApiError(upstream.status_code, _json(upstream)).words
        )
    return Response(
        upstream.content,
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{report}.{fmt}"'},
    )


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
        return body if isinstance(body, dict) else {}
    except ValueError:
        return {}


# -- billing ----------------------------------------------------------------------------


async def _billing(
    request: Request,
    client_id: str = "",
    errors: list[str] | None = None,
    values: Form | dict[str, str] | None = None,
    status: int = 200,
    done: str = "",
) -> Response:
    console, session, api = current(request)
    site = session.site_id
    claims = (await api.soft("/api/billing/claims", {"items": []}, site_id=site, limit=100)).get(
        "items", []
    )
    # The biller narrows the work queue by CARC, group code or RARC (?carc=27&group=PR).
    filters = {
        key: value
        for key in ("carc", "group", "rarc")
        if (value := request.query_params.get(key, "").strip())
    }
    queue = (await api.soft("/api/billing/work-queue", {"items": []}, limit=100, **filters)).get(
        "items", []
    )
    payers = (await api.soft("/api/billing/payers", {"items": []})).get("items", [])
    charges: list[dict[str, Any]] = []
    coverages: list[dict[str, Any]] = []
    ledger: dict[str, Any] = {}
    client: dict[str, Any] = {}
    if client_id:
        client = await api.soft(f"/api/clinical/clients/{client_id}", {})
        charges = (
            await api.soft(f"/api/billing/clients/{client_id}/charges", {"items": []}, limit=100)
        ).get("items", [])
        ledger = await api.soft(f"/api/billing/clients/{client_id}/ledger", {})
        coverages = (
            await api.soft(f"/api/billing/clients/{client_id}/coverages", {"items": []})
        ).get("items", [])
    return console.render(
        request,
        "billing.html",
        session,
        status=status,
        claims=claims,
        queue=queue,
        filters=filters,
        payers=payers,
        charges=charges,
        awaiting=[c for c in charges if not c.get("claim_id")],
        ledger=ledger,
        coverages=coverages,
        client=client,
        client_id=client_id,
        errors=errors or [],
        values=values or {},
        done=done,
    )


@router.get("/billing")
async def billing(request: Request, client_id: str = "") -> Response:
    return await _billing(request, client_id)


@router.post("/billing/batches")
async def batch(request: Request) -> Response:
    _, session, api = current(request)
    form = await read_form(request, session)
    try:
        made = await api.post(
            "/api/billing/claims/batches", {"site_id": session.site_id, "payer": form.get("payer")}
        )
    except ApiError as exc:
        return await _billing(request, "", exc.words, form, exc.status)
    file_id = made.get("file", {}).get("id", "")
    return await _billing(
        request, done=f"Batch created: {len(made.get('claims', []))} claim(s), file {file_id}."
    )


@router.get("/billing/claim-files/{file_id}.837")
async def claim_file(request: Request, file_id: str) -> Response:
    console, session, api = current(request)
    upstream = await api.raw("GET", f"/api/billing/claim-files/{file_id}")
    if upstream.status_code != 200:
        words = ApiError(upstream.status_code, _json(upstream)).words
        return console.render(request, "error.html", session, errors=words, status=404)
    return Response(
        upstream.content,
        media_type="application/edi-x12",
        headers={"Content-Disposition": f'attachment; filename="{file_id}.837"'},
    )


@router.get("/billing/clients/{client_id}/statement.pdf")
async def statement(request: Request, client_id: str) -> Response:
    _, _, api = current(request)
    upstream = await api.raw("GET", f"/api/billing/clients/{client_id}/statement.pdf")
    if upstream.status_code != 200:
        return await _billing(
            request, client_id, ApiError(upstream.status_code, _json(upstream)).words
        )
    return Response(
        upstream.content,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="statement.pdf"'},
    )


@router.post("/billing/work-queue/{item_id}/resolve")
async def resolve(request: Request, item_id: str) -> Response:
    _, session, api = current(request)
    form = await read_form(request, session)
    try:
        await api.post(
            f"/api/billing/work-queue/{item_id}/resolve", {"resolution": form.get("resolution")}
        )
    except ApiError as exc:
        return await _billing(request, "", exc.words, form, exc.status)
    return redirect(f"{PREFIX}/billing")


# -- admin ------------------------------------------------------------------------------


def expiry_warnings(staff: list[dict[str, Any]], today: date) -> dict[str, list[str]]:
    """Credentials expiring within 60 days (or already expired), per staff member."""
    out: dict[str, list[str]] = {}
    for member in staff:
        for kind, items in (
            ("licence", member.get("licences", [])),
            ("DEA registration", member.get("dea_registrations", [])),
        ):
            for item in items:
                try:
                    expires = date.fromisoformat(str(item.get("expires_on")))
                except ValueError:
                    continue
                label = f"{kind} {item.get('number', '')}"
                if expires < today:
                    out.setdefault(member["id"], []).append(f"{label} EXPIRED on {expires}")
                elif expires <= today + timedelta(days=60):
                    out.setdefault(member["id"], []).append(f"{label} expires on {expires}")
    return out


async def _admin(
    request: Request,
    errors: list[str] | None = None,
    values: Form | dict[str, str] | None = None,
    status: int = 200,
    done: str = "",
    audit: list[dict[str, Any]] | None = None,
) -> Response:
    console, session, api = current(request)
    sites = (await api.soft("/api/identity/sites", {"items": []})).get("items", [])
    rooms = (await api.soft("/api/scheduling/rooms", {"items": []}, site_id=session.site_id)).get(
        "items", []
    )
    staff = (await api.soft("/api/identity/staff", {"items": []}, limit=200)).get("items", [])
    return console.render(
        request,
        "admin.html",
        session,
        status=status,
        sites=sites,
        rooms=rooms,
        staff=staff,
        warnings=expiry_warnings(staff, datetime.now(UTC).date()),
        errors=errors or [],
        values=values or {},
        done=done,
        audit=audit,
    )


@router.get("/admin")
async def admin(request: Request) -> Response:
    return await _admin(request)


@router.get("/admin/audit")
async def audit_search(
    request: Request, client_id: str = "", user_id: str = "", break_the_glass: str = ""
) -> Response:
    _, _, api = current(request)
    values = {"client_id": client_id, "user_id": user_id, "break_the_glass": break_the_glass}
    try:
        found = await api.items(
            "/api/identity/audit/access",
            100,
            client_id=client_id,
            user_id=user_id,
            break_the_glass="true" if break_the_glass else None,
        )
    except ApiError as exc:
        return await _admin(request, exc.words, values, exc.status)
    return await _admin(request, values=values, audit=found)


@router.post("/admin/break-the-glass")
async def break_the_glass(request: Request) -> Response:
    _, session, api = current(request)
    form = await read_form(request, session)
    try:
        await api.post(
            "/api/identity/break-the-glass",
            {"client_id": form.get("client_id", ""), "reason": form.get("reason", "")},
        )
        # The grant rides in a fresh access token: renew now so the chart opens.
        await api._renew()
    except ApiError as exc:
        return await _admin(request, exc.words, form, exc.status)
    return redirect(f"{PREFIX}/clients/{form.get('client_id', '')}")


# -- inbox ------------------------------------------------------------------------------


@router.get("/inbox")
async def inbox(request: Request) -> Response:
    console, session, api = current(request)
    items = (await api.soft("/api/notifications/inbox", {"items": []}, limit=100)).get("items", [])
    return console.render(request, "inbox.html", session, items=items)


@router.get("/inbox/count")
async def inbox_count(request: Request) -> Response:
    _, _, api = current(request)
    body = await api.soft("/api/notifications/inbox/unread-count", {})
    count = int(body.get("unread", body.get("count", 0)) or 0) if isinstance(body, dict) else 0
    label = f"Inbox ({count} unread)" if count else "Inbox"
    return HTMLResponse(label)


@router.post("/inbox/{item_id}/read")
async def mark_read(request: Request, item_id: str) -> Response:
    _, session, api = current(request)
    await read_form(request, session)
    with contextlib.suppress(ApiError):
        await api.post(f"/api/notifications/inbox/{item_id}/read")
    return redirect(f"{PREFIX}/inbox")
