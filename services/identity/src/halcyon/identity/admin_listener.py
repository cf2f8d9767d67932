"""The operator's own listener: platform-wide actions answer only on an internal port.

When ``HALCYON_IDENTITY_ADMIN_PORT`` is set, identity serves a second listener on
``HALCYON_IDENTITY_ADMIN_HOST`` (default 127.0.0.1; in a cluster, an address no Service
or Ingress exposes) from the same process and state, and the operator paths
(agencies, service clients, the client-credentials grant, signing keys) answer 404 on
the public listener. Without it (local development, tests) they stay on the one port,
still behind the operator secret and refused by the gateway (ADR 0105).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import uvicorn
from halcyon.identity.settings import IdentitySettings
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("halcyon.identity.admin")

OPERATOR_PATHS = ("/agencies", "/service-clients", "/oauth/token", "/signing-keys")


def is_operator_path(path: str) -> bool:
    canonical = "/" + "/".join(s for s in path.lower().split("/") if s)
    return any(canonical == p or canonical.startswith(p + "/") for p in OPERATOR_PATHS)


class OperatorPathsOnAdminListener:
    """ASGI middleware: operator paths exist only on the admin listener, when there is one."""

    def __init__(self, app: ASGIApp, settings: IdentitySettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        port = self.settings.admin_port
        if (
            port is not None
            and scope["type"] == "http"
            and is_operator_path(scope.get("path", ""))
            and (scope.get("server") or (None, None))[1] != port
        ):
            body = (
                b'{"type":"https://halcyon.health/problems/not-found","title":"No such record",'
                b'"status":404,"detail":"not on this listener"}'
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def admin_server(app: Any, settings: IdentitySettings) -> uvicorn.Server | None:
    if settings.admin_port is None:
        return None
    config = uvicorn.Config(
        app,
        host=settings.admin_host,
        port=settings.admin_port,
        lifespan="off",  # the public listener's lifespan already built the runtime
        log_level="warning",
    )
    server = uvicorn.Server(config)
    # Signals belong to the public listener's server; this one stops with the lifespan.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    return server


async def serve_admin(server: uvicorn.Server | None) -> None:
    if server is None:
        return
    log.info("operator listener on %s:%s", server.config.host, server.config.port)
    try:
        await server.serve()
    finally:
        server.should_exit = True
