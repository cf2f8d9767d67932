"""Profile booking on the scheduling service (where the booking ratio and its p99 go).

    uv run --with pyinstrument python -m bench.profile_booking [--bookings 200]
        [--concurrency 16] [--claims 50000]

Starts scheduling under pyinstrument (its own database and topic prefix on the servers
``ensure_servers()`` finds), seeds its read models (site, therapists, clients) and
``--claims`` slot claims of other resources (the volume the synthetic agency's dosing
sessions leave behind), books ``--bookings`` psychotherapy sessions with ``--concurrency``
in flight, prints p50/p99, stops the service with SIGINT and leaves the profile in
bench/results/profile-booking-<stamp>.txt. Not a project dependency.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from halcyon.shared.testing.servers import ensure_servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from bench.agency import bounded
from bench.platform_bench import percentile
from bench.profiling import start_profiled, stop_profiled

RESULTS = Path(__file__).parent / "results"
SITE = "site-1"
THERAPISTS = 8
CLIENTS = 200


async def seed(mongo_url: str, database: str, tenant: str, claims: int) -> None:
    """The read models scheduling would have built from identity's and clinical's events."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    try:
        db = client[database]
        await db.sites.insert_one(
            {"_id": SITE, "tenant_id": tenant, "name": "Bench", "timezone": "America/Denver"}
        )
        await db.staff.insert_many(
            [
                {
                    "_id": f"t{n}",
                    "tenant_id": tenant,
                    "active": True,
                    "roles": [{"site": SITE, "role": "therapist"}],
                    "site_roles": [f"{SITE}|therapist"],
                    "licences": [],
                }
                for n in range(THERAPISTS)
            ]
        )
        await db.clients.insert_many(
            [{"_id": f"c{n}", "tenant_id": tenant, "home_site_id": SITE} for n in range(CLIENTS)]
        )
        origin = datetime(2027, 1, 4, tzinfo=UTC)
        for first in range(0, claims, 1000):
            batch = []
            for n in range(first, min(claims, first + 1000)):
                bucket = origin + timedelta(minutes=5 * n)
                resource = f"room:elsewhere-{n % 7}"
                batch.append(
                    {
                        "_id": f"{tenant}|{resource}|{bucket.strftime('%Y%m%dT%H%M')}",
                        "tenant_id": tenant,
                        "resource": resource,
                        "bucket": bucket,
                        "appointment_id": f"old-{n // 96}",
                        "claimed_at": origin,
                    }
                )
            await db.slot_claims.insert_many(batch)
    finally:
        await client.close()


async def drive(url: str, tenant: str, issuer: TestTokenIssuer, args: argparse.Namespace) -> None:
    admin = issuer.headers(tenant_id=tenant, roles=[("*", "agency_admin")])
    desk = issuer.headers(tenant_id=tenant, roles=[(SITE, "front_desk")])
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        room = await http.post("/rooms", headers=admin, json={"site_id": SITE, "name": "Office"})
        assert room.status_code == 201, room.text
        room_id = room.json()["id"]
        origin = datetime(2028, 3, 6, 15, tzinfo=UTC)
        latencies: list[float] = []

        async def book(n: int) -> None:
            body = {
                "client_id": f"c{n % CLIENTS}",
                "site_id": SITE,
                "appointment_type": "psychotherapy",
                "starts_at": (origin + timedelta(hours=n)).isoformat(),
                "clinicians": [{"staff_id": f"t{n % THERAPISTS}", "role": "therapist"}],
                "room_id": room_id,
            }
            started = time.perf_counter()
            response = await http.post("/appointments", headers=desk, json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 201, response.text

        started = time.perf_counter()
        await bounded("bookings (profiled)", list(range(args.bookings)), book, args.concurrency)
        elapsed = time.perf_counter() - started
        print(
            f"\n{args.bookings} bookings, {args.concurrency} in flight: "
            f"{args.bookings / elapsed:.1f}/s, p50 {percentile(latencies, 50):.0f} ms, "
            f"p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_booking")
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--claims", type=int, default=50_000)
    parser.add_argument("--no-profiler", action="store_true", help="time only")
    args = parser.parse_args()
    servers = ensure_servers()
    issuer = TestTokenIssuer()
    unique = uuid.uuid4().hex[:8]
    tenant = f"prof-{unique}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"profile-booking-{stamp}"
    asyncio.run(seed(servers.mongo_url, f"prof_{unique}_scheduling", tenant, args.claims))
    profile = None if args.no_profiler else Path(f"{out}.txt")
    scheduling = start_profiled("scheduling", servers, issuer, unique, profile)
    try:
        asyncio.run(drive(scheduling.url, tenant, issuer, args))
    finally:
        stop_profiled(scheduling)
    if not args.no_profiler:
        print(f"profile: {out}.txt")


if __name__ == "__main__":
    main()
