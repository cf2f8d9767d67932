"""The one way a Halcyon service is wired: ``create_service_app``.

It gives every service the same shape at run time — FastAPI with problem
responses, request ids, idempotency keys, health and readiness; one
``AsyncMongoClient`` and database; a faststream broker with the telemetry
middleware; idempotent event handlers; the outbox relay; topic creation — so a
service's own ``app.py`` only names its settings, routers, repositories,
handlers and the contracts it publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from halcyon.shared.audit import AuditTrail, OutboxRecords
from halcyon.shared.auth import Authenticator
from halcyon.shared.contracts import EventContract
from halcyon.shared.contracts.identity import AccessAudited
from halcyon.shared.http.idempotency import IdempotencyMiddleware
from halcyon.shared.http.middleware import RequestIdMiddleware
from halcyon.shared.http.problems import install_problem_handlers, problem
from halcyon.shared.kafka import EventConsumer, create_broker, publisher_for
from halcyon.shared.mongo import Document, OutboxWriter, TenantRepository, connect
from halcyon.shared.outbox import OutboxRelay
from halcyon.shared.settings import ServiceSettings
from halcyon.shared.telemetry import instrument_fastapi, setup_logging, setup_telemetry
from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger("halcyon.service")
R = TypeVar("R", bound=TenantRepository)


@dataclass
class ServiceRuntime:
    """Everything a running service holds; routers and handlers reach it through deps."""

    settings: ServiceSettings
    database: AsyncDatabase[Document]
    consumer: EventConsumer
    relay: OutboxRelay
    audit: AuditTrail
    repositories: dict[type[TenantRepository], TenantRepository] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def repo(self, cls: type[R]) -> R:
        return self.repositories[cls]  # type: ignore[return-value]


@dataclass
class ServiceWiring:
    """What a service declares; ``create_service_app`` does the rest."""

    title: str
    routers: Sequence[APIRouter] = ()
    repositories: Sequence[type[TenantRepository]] = ()
    publishes: Sequence[type[EventContract]] = ()
    # register(consumer, runtime): attach the service's event handlers.
    handlers: Callable[[EventConsumer, ServiceRuntime], None] | None = None
    # extra start-up/shutdown work (e.g. a scheduler); gets the runtime.
    on_start: Sequence[Callable[[ServiceRuntime], Any]] = ()
    description: str = ""


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


def audit_trail(request: Request) -> AuditTrail:
    return runtime_of(request).audit


Audit = Annotated[AuditTrail, Depends(audit_trail)]


def repository(cls: type[R]) -> Any:
    """``Annotated[ClientRepository, repository(ClientRepository)]`` in a route signature."""

    def resolve(request: Request) -> R:
        return runtime_of(request).repo(cls)

    return Depends(resolve)


async def ensure_topics(bootstrap: str, topics: Sequence[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in dict.fromkeys(topics) if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in wanted]
                )
    finally:
        await admin.close()


def create_service_app(settings: ServiceSettings, wiring: ServiceWiring) -> FastAPI:
    setup_logging(settings.service_name, settings.log_level)
    setup_telemetry(
        settings.service_name, otlp_endpoint=settings.otlp_endpoint, span_file=settings.span_file
    )
    broker = create_broker(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = connect(settings.mongo_url)
        database = client[settings.database_name]
        outbox = OutboxWriter(settings.topic_prefix)
        consumer = EventConsumer(broker, settings, database)
        relay = OutboxRelay(
            database,
            [cls.collection_name for cls in wiring.repositories] + ["outbox"],
            publisher_for(broker),
            service_name=settings.service_name,
            poll_seconds=settings.outbox_poll_seconds,
        )
        records = OutboxRecords(database, outbox)
        records.notify_on_events(relay.wake)
        await records.ensure_indexes()
        runtime = ServiceRuntime(
            settings=settings,
            database=database,
            consumer=consumer,
            relay=relay,
            audit=AuditTrail(records, settings.service_name),
        )
        for cls in wiring.repositories:
            repo = cls(database, outbox)
            repo.notify_on_events(relay.wake)
            runtime.repositories[cls] = repo
            await repo.ensure_indexes()
        await consumer.ensure_indexes()
        await database["idempotency_keys"].create_index("created_at")
        if wiring.handlers:
            wiring.handlers(consumer, runtime)
        consumer.subscribe()
        published: list[type[EventContract]] = [*wiring.publishes, AccessAudited]
        topics = [settings.topic(c.topic) for c in published]
        topics += [t for topic in consumer.topics for t in (topic, f"{topic}.dlq")]
        await _start_broker(broker, settings, topics)
        app.state.runtime = runtime
        app.state.database = database
        app.state.broker = broker
        relay_task = asyncio.create_task(relay.run(), name=f"{settings.service_name}-outbox-relay")
        background = [
            asyncio.create_task(_as_coroutine(hook(runtime)), name=f"{settings.service_name}-hook")
            for hook in wiring.on_start
        ]
        log.info("%s started", settings.service_name)
        try:
            yield
        finally:
            await relay.stop()
            for task in [relay_task, *background]:
                task.cancel()
            for task in [relay_task, *background]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await broker.stop()
            await client.close()

    app = FastAPI(
        title=wiring.title,
        description=wiring.description,
        lifespan=lifespan,
        version="0.1.0",
    )
    if settings.jwks_url or settings.jwt_public_key_pem:
        app.state.authenticator = Authenticator(
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            jwks_url=settings.jwks_url,
            public_key_pem=settings.jwt_public_key_pem,
        )
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RequestIdMiddleware)
    for router in wiring.routers:
        app.include_router(router)
    _add_health(app, broker)
    instrument_fastapi(app)
    return app


async def _as_coroutine(value: Any) -> Any:
    if asyncio.iscoroutine(value):
        return await value
    return value


async def _start_broker(broker: Any, settings: ServiceSettings, topics: Sequence[str]) -> None:
    """Start the broker, waiting for Kafka rather than crashing if it is still coming up."""
    delay = 0.5
    for attempt in range(1, 61):
        try:
            if topics:
                await ensure_topics(settings.kafka_bootstrap, topics, settings.topic_partitions)
            await broker.start()
            return
        except (KafkaError, OSError) as exc:
            log.warning("Kafka not reachable yet (attempt %d): %s", attempt, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise RuntimeError(f"Kafka at {settings.kafka_bootstrap} did not answer")


def _add_health(app: FastAPI, broker: Any) -> None:
    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Database and broker are reachable")
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        runtime: ServiceRuntime | None = getattr(request.app.state, "runtime", None)
        try:
            if runtime is None:
                raise RuntimeError("starting")
            await asyncio.wait_for(runtime.database.command("ping"), timeout=2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {exc}"
        try:
            ok = await broker.ping(timeout=2.0)
            checks["broker"] = "ok" if ok else "unreachable"
        except Exception as exc:
            checks["broker"] = f"unreachable: {exc}"
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        return problem(
            503, "not-ready", "Not ready", "a dependency is unreachable", request, checks=checks
        )
