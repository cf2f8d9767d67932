"""A local SMTP sink for development and tests: receives real SMTP, keeps what it got.

    python -m halcyon.notifications.devsmtp        # SMTP on :1025, HTTP on :8025

Messages are kept in memory and, when ``HALCYON_DEVSMTP_DIR`` is set, written there as
``.eml`` files. ``GET /messages`` lists them (parsed: from, to, subject, text, html) so
tests and ``make up`` can see exactly what was sent. Also an ASGI app
(``halcyon.notifications.devsmtp:app``) so test fixtures can run it like a service.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI


class SinkHandler:
    def __init__(self, directory: Path | None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.directory = directory

    # aiosmtpd's handler interface: (server, session, envelope), only the envelope matters.
    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        if not isinstance(parsed, EmailMessage):
            return "554 Message could not be parsed"
        text = parsed.get_body(preferencelist=("plain",))
        html = parsed.get_body(preferencelist=("html",))
        record = {
            "id": uuid.uuid4().hex,
            "received_at": datetime.now(UTC).isoformat(),
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(parsed.get("Subject", "")),
            "headers": {k: str(v) for k, v in parsed.items()},
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else None,
        }
        self.messages.append(record)
        if self.directory is not None:
            (self.directory / f"{record['id']}.eml").write_bytes(raw)
        return "250 Message accepted for delivery"


def create_app(smtp_host: str, smtp_port: int, directory: Path | None) -> FastAPI:
    handler = SinkHandler(directory)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="halcyon-devsmtp"), smtp_host, smtp_port
        )
        try:
            yield
        finally:
            server.close()
            await server.wait_closed()

    app = FastAPI(title="Halcyon dev SMTP sink", lifespan=lifespan)

    @app.get("/healthz")
    @app.get("/readyz")
    async def ready() -> dict[str, Any]:
        return {"status": "ready", "smtp_port": smtp_port}

    @app.get("/messages")
    async def messages(to: str | None = None) -> list[dict[str, Any]]:
        return [m for m in handler.messages if to is None or to in m["rcpt_tos"]]

    @app.delete("/messages", status_code=204)
    async def clear() -> None:
        handler.messages.clear()

    return app


def _from_env() -> FastAPI:
    directory = os.environ.get("HALCYON_DEVSMTP_DIR")
    return create_app(
        os.environ.get("HALCYON_DEVSMTP_SMTP_HOST", "127.0.0.1"),
        int(os.environ.get("HALCYON_DEVSMTP_SMTP_PORT", "1025")),
        Path(directory) if directory else None,
    )


app = _from_env()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app,
        host=os.environ.get("HALCYON_DEVSMTP_HTTP_HOST", "127.0.0.1"),  # 0.0.0.0 in a container
        port=int(os.environ.get("HALCYON_DEVSMTP_HTTP_PORT", "8025")),
    )
