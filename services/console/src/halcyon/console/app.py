"""Console wiring: a server-rendered backend-for-frontend served at /console through the
gateway. It owns no database and no topics: every read and write is a call to the
gateway's public API with the signed-in person's own token (docs/adr/0800)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from halcyon.console import (
    views_auth,
    views_calendar,
    views_chart,
    views_dashboards,
    views_documents,
    views_ops,
)
from halcyon.console.api import ApiError, SessionExpired
from halcyon.console.settings import ConsoleSettings
from halcyon.console.web import PREFIX, BadCsrf, Console, NeedSignIn, console_of, redirect
from halcyon.shared.http.middleware import RequestIdMiddleware
from halcyon.shared.telemetry import instrument_fastapi, setup_logging, setup_telemetry

log = logging.getLogger("halcyon.console")


def create_console_app(settings: ConsoleSettings) -> FastAPI:
    setup_logging(settings.service_name, settings.log_level)
    setup_telemetry(
        settings.service_name, otlp_endpoint=settings.otlp_endpoint, span_file=settings.span_file
    )
    console = Console(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await console.http.aclose()

    app = FastAPI(
        title="Halcyon console",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.console = console

    @app.exception_handler(NeedSignIn)
    async def _sign_in(request: Request, exc: NeedSignIn) -> Response:
        return redirect(f"{PREFIX}/sign-in" + ("?expired=1" if exc.expired else ""), request)

    @app.exception_handler(SessionExpired)
    async def _expired(request: Request, _exc: SessionExpired) -> Response:
        return redirect(f"{PREFIX}/sign-in?expired=1", request)

    @app.exception_handler(BadCsrf)
    async def _csrf(request: Request, _exc: BadCsrf) -> Response:
        return console_of(request).render(
            request,
            "error.html",
            errors=[
                "This form is out of date (it was opened in an earlier session). "
                "Go back, reload the page and try again."
            ],
            status=403,
        )

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        return console_of(request).render(
            request, "error.html", errors=exc.words, status=exc.status
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _exc: Exception) -> Response:
        log.exception("console error on %s %s", request.method, request.url.path)
        return console_of(request).render(
            request,
            "error.html",
            errors=["Something went wrong on our side. It was logged; please try again."],
            status=500,
        )

    @app.get(f"{PREFIX}/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get(f"{PREFIX}/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        return JSONResponse({"status": "ready"})

    @app.get("/readyz", include_in_schema=False)
    async def root_readyz() -> JSONResponse:
        return JSONResponse({"status": "ready"})

    app.mount(
        f"{PREFIX}/static",
        StaticFiles(directory=str(Path(__file__).parent / "static")),
        name="static",
    )
    for module in (
        views_auth,
        views_calendar,
        views_chart,
        views_documents,
        views_ops,
        views_dashboards,
    ):
        app.include_router(module.router)
    app.add_middleware(RequestIdMiddleware)
    instrument_fastapi(app)
    return app


app = create_console_app(ConsoleSettings())
