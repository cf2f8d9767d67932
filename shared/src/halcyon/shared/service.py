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
from typing import Annotated, Any, Generic, TypeVar, cast

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from halcyon.shared.audit import AuditTrail, OutboxRecords
from halcyon.shared.auth import Authenticator
from halcyon.shared.contracts import EventContract
from halcyon.shared.contracts.identity import AccessAudited, AccessRevoked
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.events import ServiceEvents
from halcyon.shared.http.client import remember_missing_sniffio
from halcyon.shared.http.guard import InputGuardMiddleware, InputLimits
from halcyon.shared.http.idempotency import IdempotencyMiddleware
from halcyon.shared.http.middleware import RequestIdMiddleware, RoundTripMiddleware
from halcyon.shared.http.openapi import install_truthful_openapi
from halcyon.shared.http.problems import install_problem_handlers, problem
from halcyon.shared.kafka import EventConsumer, PartnerProducer, create_broker, publisher_for
from halcyon.shared.mongo import Document, OutboxEvent, OutboxWriter, TenantRepository, connect
from halcyon.shared.outbox import OutboxRelay
from halcyon.shared.revocation import RevocationList, RevocationListener
from halcyon.shared.settings import ServiceSettings
from halcyon.shared.telemetry import instrument_fastapi, setup_logging, setup_telemetry
from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger("halcyon.service")
R = TypeVar("R", bound=TenantRepository)
S = TypeVar("S", bound=ServiceSettings)
# A service's own long-lived parts (signing keys, a notifier, caches): one typed
# dataclass per service instead of a dict of anything.
P = TypeVar("P")


@dataclass
class ServiceRuntime(Generic[S, P]):
    """Everything a running service holds; routers and handlers reach it through deps.

    Generic over the service's settings and its parts, so ``runtime.settings`` is the
    service's own settings class and ``runtime.parts`` its own container, both typed.
    """

    settings: S
    database: AsyncDatabase[Document]
    consumer: EventConsumer
    relay: OutboxRelay
    audit: AuditTrail
    repositories: dict[type[TenantRepository], TenantRepository] = field(default_factory=dict)
    # Built by ``ServiceWiring.parts`` once the repositories exist; ``None`` if no parts.
    parts: P = field(default=cast(Any, None))

    def repo(self, cls: type[R]) -> R:
        return cast(R, self.repositories[cls])

    @property
    def events(self) -> ServiceEvents:
        return ServiceEvents(self.settings.service_name)

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of everything this service emits."""
        return self.events.source

    def envelope(
        self,
        contract: EventContract,
        *,
        tenant_id: str,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> EventEnvelope:
        return self.events.envelope(
            contract, tenant_id=tenant_id, causation_id=causation_id, correlation_id=correlation_id
        )

    def event(
        self,
        contract: EventContract,
        *,
        tenant_id: str,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> OutboxEvent:
        """An event for the outbox: enveloped with this service as its source."""
        return self.events.event(
            contract, tenant_id=tenant_id, causation_id=causation_id, correlation_id=correlation_id
        )


@dataclass
class ServiceWiring(Generic[S, P]):
    """What a service declares; ``create_service_app`` does the rest."""

    title: str
    routers: Sequence[APIRouter] = ()
    repositories: Sequence[type[TenantRepository]] = ()
    publishes: Sequence[type[EventContract]] = ()
    # register(consumer, runtime): attach the service's event handlers.
    handlers: Callable[[EventConsumer, ServiceRuntime[S, P]], None] | None = None
    # extra start-up/shutdown work (e.g. a scheduler); gets the runtime.
    on_start: Sequence[Callable[[ServiceRuntime[S, P]], Any]] = ()
    # builds the service's parts from the runtime (after repositories, before handlers).
    parts: Callable[[ServiceRuntime[S, P]], P] | None = None
    description: str = ""


def runtime_of(request: Request) -> ServiceRuntime[Any, Any]:
    """The running service's runtime; each service's ``api/deps.py`` narrows its type."""
    runtime: ServiceRuntime[Any, Any] = request.app.state.runtime
    return runtime


async def current_runtime(request: Request) -> ServiceRuntime[Any, Any]:
    """``runtime_of`` as a dependency. Dependencies are ``async def`` on purpose: FastAPI
    runs a plain ``def`` one in a worker thread, a thread hop per request for a lookup."""
    return runtime_of(request)


Runtime = Annotated[ServiceRuntime[Any, Any], Depends(current_runtime)]


async def audit_trail(request: Request) -> AuditTrail:
    return runtime_of(request).audit


Audit = Annotated[AuditTrail, Depends(audit_trail)]


def repository(cls: type[R]) -> Any:
    """``Annotated[ClientRepository, repository(ClientRepository)]`` in a route signature."""

    async def resolve(request: Request) -> R:
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


def create_service_app(settings: S, wiring: ServiceWiring[S, P]) -> FastAPI:
    remember_missing_sniffio()  # httpx clients (JWKS, other services) without import searches
    setup_logging(settings.service_name, settings.log_level)
    setup_telemetry(
        settings.service_name, otlp_endpoint=settings.otlp_endpoint, span_file=settings.span_file
    )
    broker = create_broker(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = connect(settings.mongo_url, count_round_trips=settings.count_round_trips)
        database = client[settings.database_name]
        outbox = OutboxWriter(settings.topic_prefix)
        consumer = EventConsumer(broker, settings, database)
        partner_producer = PartnerProducer(settings.kafka_bootstrap)
        relay = OutboxRelay(
            database,
            [cls.collection_name for cls in wiring.repositories] + ["outbox"],
            publisher_for(broker, partner_producer),
            service_name=settings.service_name,
            poll_seconds=settings.outbox_poll_seconds,
        )
        records = OutboxRecords(database, outbox)
        records.notify_on_events(relay.wake)
        await records.ensure_indexes()
        runtime: ServiceRuntime[S, P] = ServiceRuntime(
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
        if wiring.parts is not None:
            runtime.parts = wiring.parts(runtime)
        await consumer.ensure_indexes()
        await database["idempotency_keys"].create_index("created_at")
        if wiring.handlers:
            wiring.handlers(consumer, runtime)
        consumer.subscribe()
        published: list[type[EventContract]] = [*wiring.publishes, AccessAudited]
        topics = [settings.topic(c.topic) for c in published]
        topics += [t for topic in consumer.topics for t in (topic, f"{topic}.dlq")]
        topics.append(settings.topic(AccessRevoked.topic))  # every process reads it
        await _start_broker(broker, settings, topics)
        revocations = RevocationListener(
            settings.kafka_bootstrap, settings.topic(AccessRevoked.topic), app.state.revocations
        )
        revocations.start()
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
            await revocations.stop()
            await relay.stop()
            for task in [relay_task, *background]:
                task.cancel()
            for task in [relay_task, *background]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await broker.stop()
            await partner_producer.stop()
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
    # Sessions ended before their tokens expire (ADR 0104); current_caller consults it.
    app.state.revocations = RevocationList()
    install_problem_handlers(app)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(
        InputGuardMiddleware,
        limits=InputLimits(
            max_body_bytes=settings.max_body_bytes,
            larger_bodies=tuple(settings.larger_bodies.items()),
            max_depth=settings.max_json_depth,
            max_string_chars=settings.max_string_chars,
        ),
    )
    app.add_middleware(RequestIdMiddleware)
    if settings.count_round_trips:  # outermost: the idempotency check's commands count too
        app.add_middleware(RoundTripMiddleware)
    for router in wiring.routers:
        app.include_router(router)
    _add_health(app, broker, settings.service_name)
    install_truthful_openapi(app, max_string_chars=settings.max_string_chars)
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


def _add_health(app: FastAPI, broker: Any, service_name: str) -> None:
    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Database and broker are reachable")
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        runtime: ServiceRuntime[Any, Any] | None = getattr(request.app.state, "runtime", None)
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
            # The name lets a starter tell this service from another one that got the
            # same port first (two test processes racing for a free port).
            return JSONResponse({"status": "ready", "service": service_name, "checks": checks})
        return problem(
            503, "not-ready", "Not ready", "a dependency is unreachable", request, checks=checks
        )
