"""Gateway wiring: the only public entry. It owns nothing persistent (no Mongo; from Kafka it
only reads the revocation topic into memory), so it is a plain FastAPI app built from the
shared HTTP and telemetry pieces rather than ``create_service_app``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from halcyon.gateway import endpoints, proxy
from halcyon.gateway.headers import SecurityHeadersMiddleware
from halcyon.gateway.runtime import GatewayRuntime
from halcyon.gateway.settings import GatewaySettings
from halcyon.shared.contracts.identity import AccessRevoked
from halcyon.shared.http.client import remember_missing_sniffio
from halcyon.shared.http.middleware import RequestIdMiddleware
from halcyon.shared.http.problems import install_problem_handlers
from halcyon.shared.revocation import RevocationListener
from halcyon.shared.telemetry import instrument_fastapi, setup_logging, setup_telemetry

log = logging.getLogger("halcyon.gateway")


def create_gateway_app(settings: GatewaySettings) -> FastAPI:
    # Every proxied request goes through httpcore's pool: no import search per request.
    remember_missing_sniffio()
    setup_logging(settings.service_name, settings.log_level)
    setup_telemetry(
        settings.service_name, otlp_endpoint=settings.otlp_endpoint, span_file=settings.span_file
    )
    runtime = GatewayRuntime.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        log.info("gateway started; upstreams: %s", settings.upstreams)
        # Identity creates the topic; the reader waits for it in the background, so the
        # gateway's readiness never hangs on Kafka.
        topic = settings.topic(AccessRevoked.topic)
        revocations = RevocationListener(settings.kafka_bootstrap, topic, runtime.revocations)
        revocations.start()
        try:
            yield
        finally:
            await revocations.stop()
            await runtime.http.aclose()

    app = FastAPI(
        title="Halcyon gateway",
        version="0.1.0",
        lifespan=lifespan,
        # The gateway serves the merged document itself (endpoints.openapi).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.gateway = runtime
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(SecurityHeadersMiddleware, docs_paths=frozenset({"/docs", "/openapi.json"}))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=proxy.METHODS,
            allow_headers=["authorization", "content-type", "idempotency-key", "x-request-id"],
            expose_headers=["x-request-id", "x-trace-id", "retry-after"],
        )
    app.add_middleware(RequestIdMiddleware)
    app.include_router(endpoints.router)
    app.include_router(proxy.router)
    instrument_fastapi(app)
    return app


app = create_gateway_app(GatewaySettings())
