"""Profile opening a client chart on the clinical service (where the chart ratio goes).

    uv run --with pyinstrument python -m bench.profile_chart [--reads 400]

Starts clinical under pyinstrument (its own databases and topic prefix on the servers
``ensure_servers()`` finds), registers a few clients, opens their charts ``--reads`` times
with 8 in flight, stops the service with SIGINT and leaves the profile in
bench/results/profile-chart-<stamp>.txt (and .html). Not a project dependency.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from halcyon.shared.testing.servers import ensure_servers
from halcyon.shared.testing.tokens import TestTokenIssuer

from bench.agency import bounded
from bench.profiling import start_profiled, stop_profiled

RESULTS = Path(__file__).parent / "results"


async def drive(url: str, headers: dict[str, str], reads: int) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        ids = []
        for n in range(20):
            created = await http.post(
                "/clients",
                headers=headers,
                json={
                    "given_name": f"P{n}",
                    "family_name": "Profile",
                    "date_of_birth": "1980-01-01",
                    "home_site_id": "site-1",
                },
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])

        async def read(i: int) -> None:
            response = await http.get(f"/clients/{ids[i % len(ids)]}", headers=headers)
            assert response.status_code == 200, response.text

        started = time.perf_counter()
        await bounded("chart reads (profiled)", list(range(reads)), read, 8)
        return reads / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_chart")
    parser.add_argument("--reads", type=int, default=400)
    args = parser.parse_args()
    servers = ensure_servers()
    issuer = TestTokenIssuer()
    unique = uuid.uuid4().hex[:8]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"profile-chart-{stamp}"
    clinical = start_profiled("clinical", servers, issuer, unique, Path(f"{out}.txt"))
    try:
        headers = issuer.headers(tenant_id=f"prof-{unique}", roles=[("site-1", "front_desk")])
        rate = asyncio.run(drive(clinical.url, headers, args.reads))
        print(f"chart reads under the profiler: {rate:.1f}/s")
    finally:
        stop_profiled(clinical)
    print(f"profile: {out}.txt")


if __name__ == "__main__":
    main()
