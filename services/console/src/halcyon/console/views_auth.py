"""Sign-in (password + TOTP), sign-out, the site switcher."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from halcyon.console.api import ApiError, problem_words
from halcyon.console.sessions import COOKIE, Session, token_claims
from halcyon.console.web import PREFIX, console_of, current, read_form, redirect

router = APIRouter(prefix=PREFIX)


@router.get("/sign-in")
async def sign_in_page(request: Request, expired: int = 0, signed_out: int = 0) -> Response:
    console = console_of(request)
    notice = ""
    if expired:
        notice = "Your session ended after a period of inactivity. Please sign in again."
    elif signed_out:
        notice = "You are signed out."
    return console.render(request, "sign_in.html", values={}, notice=notice, errors=[])


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    console = console_of(request)
    form = await read_form(request, None)
    email = form.get("email", "").strip()
    values = {"email": email}
    # The agency is found from the email; a person in several agencies picks one.
    agencies = await _agencies_of(console, email) if email else []
    chosen = form.get("agency_id", "").strip()
    if len(agencies) > 1 and chosen not in {a["agency_id"] for a in agencies}:
        notice = "Your email belongs to several agencies. Choose one and sign in again."
        return console.render(
            request, "sign_in.html", values=values, notice=notice, errors=[], agencies=agencies
        )
    agency_id = chosen if len(agencies) > 1 else (agencies[0]["agency_id"] if agencies else "")
    if not agency_id:
        # Same words as a wrong password: the page does not tell who has an account.
        errors = ["Wrong email or password."]
        return console.render(
            request, "sign_in.html", values=values, notice="", errors=errors, status=401
        )
    body = {"agency_id": agency_id, "email": email, "password": form.get("password", "")}
    otp = form.get("otp_code", "").strip().replace(" ", "")
    if otp:
        body["otp_code"] = otp
    response = await console.http.post("/api/identity/auth/sign-in", json=body)
    if response.status_code != 200:
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        errors = problem_words(response.status_code, problem if isinstance(problem, dict) else {})
        if response.status_code == 422 and problem.get("errors"):
            errors = ["Enter your email and password."]
        # The password is never echoed back; the rest of the form is kept.
        return console.render(
            request,
            "sign_in.html",
            values={**values, "agency_id": agency_id},
            notice="",
            errors=errors,
            status=401,
            agencies=agencies if len(agencies) > 1 else [],
        )
    tokens = response.json()
    claims = token_claims(tokens["access_token"])
    grants = [(str(g["site"]), str(g["role"])) for g in claims.get("roles", [])]
    session = console.sessions.create(
        agency_id=body["agency_id"],
        email=body["email"],
        access_token=tokens["access_token"],
        refresh_token=tokens.get("refresh_token"),
        access_expires_at=time.time() + int(tokens.get("expires_in", 300)),
        user_id=str(claims.get("sub", "")),
        grants=grants,
    )
    api = console.api(session)
    me = await api.soft("/api/identity/me", {})
    session.display_name = str(me.get("display_name") or body["email"])
    # Every site the person may work at, with its name and zone (calendars are shown in
    # the site's own time zone). Agency-wide admins are granted "*": list the sites.
    listed = await api.soft("/api/identity/sites", {"items": []}, limit=100)
    known = {str(site["id"]): site for site in listed.get("items", [])}
    wildcard = any(s == "*" for s, _ in grants)
    session.site_ids = sorted(known) if wildcard else session.sites
    for site_id in session.site_ids:
        site = known.get(site_id) or await api.soft(f"/api/identity/sites/{site_id}", {})
        session.site_names[site_id] = str(site.get("name") or site_id)
        session.site_zones[site_id] = str(site.get("timezone") or "UTC")
    session.site_id = session.site_ids[0] if session.site_ids else None
    result = redirect(f"{PREFIX}/calendar")
    console.set_cookie(result, session)
    return result


async def _agencies_of(console: Any, email: str) -> list[dict[str, str]]:
    response = await console.http.post("/api/identity/auth/agencies", json={"email": email})
    if response.status_code != 200:
        return []
    return [
        {"agency_id": str(a["agency_id"]), "name": str(a["name"])}
        for a in response.json().get("agencies", [])
    ]


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    console, session, api = current(request)
    await read_form(request, session)
    if session.refresh_token:
        # The local session ends regardless; the refresh token would expire on its own.
        with contextlib.suppress(ApiError):
            await api.call(
                "POST", "/api/identity/auth/sign-out", json={"refresh_token": session.refresh_token}
            )
    console.sessions.drop(session)
    result = redirect(f"{PREFIX}/sign-in?signed_out=1")
    result.delete_cookie(COOKIE, path=PREFIX)
    return result


@router.post("/site")
async def switch_site(request: Request) -> Response:
    _, session, _ = current(request)
    form = await read_form(request, session)
    wanted = form.get("site_id", "")
    if wanted in site_choices(session):
        session.site_id = wanted
    back = form.get("back", "")
    return redirect(back if back.startswith(PREFIX + "/") else f"{PREFIX}/calendar")


def site_choices(session: Session) -> list[str]:
    return session.site_ids
