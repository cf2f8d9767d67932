"""A deliberately non-idempotent consumer, to prove the shared consumer's guarantees.

Its handler increments a tally per client id, so any event applied twice shows
as 2. Runs as its own process (uvicorn) built with the same ``create_service_app``
as every service. Subjects starting with ``refuse_prefix`` (default ``fail-``)
make the handler raise.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from halcyon.shared.contracts.clinical import ClientRegistered
from halcyon.shared.kafka import Delivery, EventConsumer
from halcyon.shared.mongo import TenantRepository
from halcyon.shared.service import ServiceRuntime, ServiceWiring, create_service_app
from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_PROBE_", extra="ignore")
    service_name: str = "probe"
    # Subjects with this prefix make the handler fail (dead-letter and replay tests).
    refuse_prefix: str = "fail-"
    # Use TenantRepository.apply_event (the per-document guard real handlers use).
    guard_writes_by_event_id: bool = False


class Tally(TenantRepository):
    collection_name = "tally"


def register(consumer: EventConsumer, runtime: ServiceRuntime[ProbeSettings, None]) -> None:
    tally = runtime.repo(Tally)

    @consumer.handles(ClientRegistered)
    async def count(event: ClientRegistered, delivery: Delivery) -> None:
        if event.client_id.startswith(runtime.settings.refuse_prefix):
            raise RuntimeError(f"probe refuses {event.client_id}")
        tenant = delivery.envelope.tenantid
        if runtime.settings.guard_writes_by_event_id:
            # Exactly once even if killed between this write and the processed-marker.
            await tally.apply_event(
                tenant,
                {"_id": event.client_id},
                {"$inc": {"applied": 1}},
                delivery.envelope.id,
                upsert=True,
            )
        else:
            # Deliberately not idempotent: only the consumer's processed-marker protects it.
            await tally.update(
                tenant, {"_id": event.client_id}, {"$inc": {"applied": 1}}, upsert=True
            )


router = APIRouter()


@router.get("/tally/{tenant_id}/{client_id}")
async def read_tally(tenant_id: str, client_id: str, request: Request) -> dict[str, int]:
    runtime: ServiceRuntime[ProbeSettings, None] = request.app.state.runtime
    doc = await runtime.repo(Tally).get(tenant_id, client_id)
    return {"applied": int(doc["applied"]) if doc else 0}


@router.get("/stats")
async def stats(request: Request) -> dict[str, int]:
    consumer = request.app.state.runtime.consumer
    return {
        "applied": consumer.applied,
        "duplicates": consumer.duplicates,
        "dead_lettered": consumer.dead_lettered,
    }


app = create_service_app(
    ProbeSettings(),
    ServiceWiring[ProbeSettings, None](
        title="probe", routers=[router], repositories=[Tally], handlers=register
    ),
)
