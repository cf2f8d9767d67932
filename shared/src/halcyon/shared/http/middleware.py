"""Request ids: taken from ``X-Request-ID`` when sane, else made; echoed on the response.

Round trips (when ``count_round_trips`` is on): each request's database commands and
Kafka sends, as response headers and attributes of the request's span.
"""

from __future__ import annotations

import re
import uuid

from halcyon.shared.mongo import counting_round_trips
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SANE.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


DB_COMMANDS_HEADER = b"halcyon-db-commands"
DB_COMMAND_NAMES_HEADER = b"halcyon-db-command-names"
KAFKA_SENDS_HEADER = b"halcyon-kafka-sends"


class RoundTripMiddleware:
    """Reports what the request cost in round trips, counted until its response starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with counting_round_trips() as counts:

            async def send_with_counts(message: Message) -> None:
                if message["type"] == "http.response.start":
                    commands = sorted(counts.database_commands.items())
                    names = ",".join(f"{name}:{n}" for name, n in commands)
                    headers = list(message.get("headers", []))
                    headers += [
                        (DB_COMMANDS_HEADER, str(counts.database_total).encode()),
                        (DB_COMMAND_NAMES_HEADER, names.encode()),
                        (KAFKA_SENDS_HEADER, str(counts.kafka_sends).encode()),
                    ]
                    message["headers"] = headers
                    span = trace.get_current_span()
                    span.set_attribute("halcyon.db.commands", counts.database_total)
                    span.set_attribute("halcyon.kafka.sends", counts.kafka_sends)
                await send(message)

            await self.app(scope, receive, send_with_counts)
