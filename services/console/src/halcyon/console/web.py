"""Request plumbing shared by every screen: the session from the cookie, CSRF on posts,
form bodies, rendering, and turning API failures into a page a person can act on."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

import httpx
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from halcyon.console.api import Api, ApiError
from halcyon.console.sessions import COOKIE, Session, SessionStore
from halcyon.console.settings import ConsoleSettings
from jinja2 import Environment, FileSystemLoader, select_autoescape

PREFIX = "/console"
TEMPLATES = Path(__file__).parent / "templates"


class NeedSignIn(Exception):
    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign in")
        self.expired = expired


class BadCsrf(Exception):
    pass


class Form(dict[str, str]):
    """A urlencoded form: the last value of each field, plus every value via ``all``."""

    def __init__(self, multi: Mapping[str, list[str]]) -> None:
        super().__init__({k: v[-1] for k, v in multi.items()})
        self.multi = multi

    def all(self, name: str) -> list[str]:
        return [v for v in self.multi.get(name, []) if v]


def local(value: str | None, tz: str | None, fmt: str = "%a %d %b %H:%M") -> str:
    """An ISO instant shown in the site's zone (the zone the clinic lives in)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(tz) if tz else UTC).strftime(fmt)


def words(value: str | None) -> str:
    return (value or "").replace("_", " ")


def make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local
    env.filters["words"] = words
    env.filters["urlq"] = lambda v: quote(str(v), safe="")
    env.globals["P"] = PREFIX
    return env


class Console:
    """What the running console holds: settings, the session store, one pooled client."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.sessions = SessionStore(
            settings.cookie_secret, settings.idle_timeout_seconds, settings.absolute_timeout_seconds
        )
        self.http = httpx.AsyncClient(
            base_url=settings.gateway_url.rstrip("/"),
            timeout=settings.api_timeout_seconds,
            trust_env=False,
        )
        self.env = make_env()

    def api(self, session: Session | None) -> Api:
        return Api(self.http, session)

    def render(
        self,
        request: Request,
        template_name: str,
        session: Session | None = None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        template = self.env.get_template(template_name)
        html = template.render(
            request=request,
            s=session,
            csrf=session.csrf if session else "",
            now=time.time(),
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self.sessions.sign(session.id),
            httponly=True,
            samesite="strict",
            secure=self.settings.cookie_secure,
            path=PREFIX,
        )


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def current(request: Request) -> tuple[Console, Session, Api]:
    console = console_of(request)
    session, expired = console.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise NeedSignIn(expired)
    return console, session, console.api(session)


async def read_form(request: Request, session: Session | None) -> Form:
    body = (await request.body()).decode("utf-8", errors="replace")
    form = Form(parse_qs(body, keep_blank_values=True))
    # SameSite=Strict already keeps other sites' forms from carrying the cookie; the
    # per-session token covers older browsers and same-site subdomains.
    if session is not None and form.get("csrf") != session.csrf:
        raise BadCsrf()
    return form


def redirect(path: str, request: Request | None = None) -> Response:
    if request is not None and request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": path})
    return RedirectResponse(path, status_code=303)


def error_words(exc: Exception) -> list[str]:
    if isinstance(exc, ApiError):
        return exc.words
    return ["Something went wrong. Nothing was lost: what you typed is still in the form."]
