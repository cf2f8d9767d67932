"""A stand-in for any Halcyon service that holds client data, run as its own process.

Built with the same ``create_service_app`` as every service, so it verifies tokens
with the shared ``Authenticator`` (``HALCYON_JWKS_URL`` → identity's JWKS) and
publishes ``AccessAudited`` through its outbox exactly as clinical does. Identity's
tests use it instead of clinical so they do not depend on another team's work in
progress; clinical's own ``GET /clients/{id}`` follows the same path.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from halcyon.shared.errors import Forbidden
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.service import Audit, ServiceWiring, create_service_app
from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

READERS = {"front_desk", "agency_admin", "therapist", "prescriber", "nurse", "compliance_officer"}


class ChartProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_CHARTPROBE_", extra="ignore")
    service_name: str = "chartprobe"


router = APIRouter()


@router.get("/whoami")
async def whoami(caller: CurrentCaller) -> dict[str, object]:
    return {
        "user_id": caller.user_id,
        "tenant_id": caller.tenant_id,
        "roles": sorted(caller.roles_at(None)),
        "mfa": caller.mfa,
        "break_the_glass": list(caller.emergency_clients),
    }


@router.get("/clients/{client_id}")
async def read_client(
    client_id: str, caller: CurrentCaller, audit: Audit, request: Request
) -> dict[str, str]:
    # Site "home" stands for the client's home site; break-the-glass opens this one chart.
    allowed = caller.has_role(READERS, "home") or client_id in caller.emergency_clients
    await audit.record(
        caller,
        action="read",
        resource="chartprobe/client",
        resource_id=client_id,
        client_id=client_id,
        site_id="home",
        outcome="success" if allowed else "denied",
        request=request,
    )
    if not allowed:
        raise Forbidden("not your client")
    return {"id": client_id}


app = create_service_app(ChartProbeSettings(), ServiceWiring(title="chart probe", routers=[router]))
