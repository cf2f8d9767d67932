"""Round-trip budget of posting an 835 (docs/services/billing.md).

The service runs as its own process with HALCYON_COUNT_ROUND_TRIPS=1 and reports each
request's database commands (PyMongo command monitoring) and Kafka sends; posting a
two-claim remittance must stay within the budget its docs state.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from halcyon.shared.testing.roundtrips import assert_within_budget
from halcyon.shared.testing.tokens import TestTokenIssuer

from tests.fixtures import StartService

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).parent / "data" / "x12" / "835"


async def test_post_an_835(
    start_service: StartService, token_issuer: TestTokenIssuer, unique: str
) -> None:
    billing = start_service("billing", HALCYON_COUNT_ROUND_TRIPS="1")
    biller = token_issuer.headers(tenant_id=f"agency-{unique}", roles=[("site-1", "biller")])
    # Two claims billing does not know: each becomes a work item for a biller.
    two_claims = (SAMPLES / "tr3-managed-care-2-claims-co45-pr1.835").read_bytes()
    warm_up = (SAMPLES / "tr3-medicare-part-a-2-claims-plb.835").read_bytes()
    async with httpx.AsyncClient(base_url=billing.url, headers=biller, timeout=60) as http:
        assert (await http.post("/remittances", content=warm_up)).status_code == 201
        posted = await http.post("/remittances", content=two_claims)
        assert posted.status_code == 201, posted.text
        assert_within_budget("billing", "post an 835", posted)
