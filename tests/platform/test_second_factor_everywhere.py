"""Every service refuses a password-only token where a second factor is needed (ADR 0103),
each running as its own process on the real servers:

- a person of any role (every role reads client records) on any route;
- anyone, an agency admin included, on the clinical record and the controlled-substance
  ledger (the router-level check, kept as defence in depth).
"""

from __future__ import annotations

import httpx
import pytest
from halcyon.shared.testing.tokens import TestTokenIssuer

from tests.fixtures import StartService

pytestmark = pytest.mark.integration

TENANT = "agency-2fa"
# service -> (any route a prescriber may call, a route needing a second factor whoever calls)
ROUTES: dict[str, tuple[str, str | None]] = {
    "clinical": ("/clients/c-1", "/clients/c-1/vitals"),
    "scheduling": ("/appointments", None),
    "inventory": ("/discrepancies", "/registrations/r-1/ledger"),
    "billing": ("/claims", None),
    "notifications": ("/inbox", None),
}


def _refused_for_second_factor(response: httpx.Response) -> bool:
    return response.status_code == 401 and response.json()["type"].endswith(
        "/second-factor-required"
    )


@pytest.mark.parametrize("service", sorted(ROUTES))
async def test_password_only_tokens_are_refused_where_a_second_factor_is_needed(
    service: str, start_service: StartService, token_issuer: TestTokenIssuer
) -> None:
    process = start_service(service)
    any_route, chart_route = ROUTES[service]

    def as_(role: str, *, mfa: bool) -> dict[str, str]:
        return token_issuer.headers(tenant_id=TENANT, roles=[("*", role)], mfa=mfa)

    async with httpx.AsyncClient(base_url=process.url, timeout=30.0) as http:
        refused = await http.get(any_route, headers=as_("prescriber", mfa=False))
        assert _refused_for_second_factor(refused), refused.text
        allowed = await http.get(any_route, headers=as_("prescriber", mfa=True))
        assert allowed.status_code != 401, allowed.text
        # Front desk, billers and admins read client records too: refused alike.
        for role in ("front_desk", "biller", "agency_admin"):
            password_only = await http.get(any_route, headers=as_(role, mfa=False))
            assert _refused_for_second_factor(password_only), (role, password_only.text)
        if chart_route:
            admin = await http.get(chart_route, headers=as_("agency_admin", mfa=False))
            assert _refused_for_second_factor(admin), admin.text
            with_code = await http.get(chart_route, headers=as_("agency_admin", mfa=True))
            assert with_code.status_code != 401, with_code.text
