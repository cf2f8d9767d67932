"""The whole platform (every service + the gateway as processes) against its floors.

1. booking through the gateway vs the same booking directly on scheduling vs a bare
   async FastAPI endpoint;
2. "dose dispensed" (inventory) → "charge created" (billing: the drug-supply charge of
   ADR 0603) vs a raw aiokafka produce→consume round trip on the same broker; also
   "note signed" (clinical) → "charge created" (the visit's charge);
3. a partner consumer (SASL/SCRAM, partner listener, ACLs) vs a raw aiokafka consumer on
   the internal listener, same topic, same message count;
4. 100 concurrent dispenses from a lot holding half of what they ask: throughput and
   oversold units (must be 0);
5. opening a client chart through the gateway vs a raw PyMongo find loop on the same
   collection.

Before each measure the platform settles: every consumer group has read to the end of
its topics (the generator leaves thousands of events behind), so a measure times its own
load, not the digestion of the one before. The wait is recorded as ``settled_after_s``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from halcyon.shared.mongo import connect
from halcyon.shared.partners import PartnerGrant, provision_partner
from halcyon.shared.testing.processes import ServiceProcess
from halcyon.shared.testing.servers import Servers

from bench.agency import Agency, AgencySize, Generator, bounded, progress
from tests.e2e.journey import ResearchStock, iso, new_lot, ok, receive, research_stock
from tests.e2e.platform import Gateway, Person, Platform


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def stats(latencies_ms: list[float], elapsed_s: float) -> dict[str, float]:
    return {
        "requests": len(latencies_ms),
        "requests_per_s": round(len(latencies_ms) / elapsed_s, 1),
        "p50_ms": round(percentile(latencies_ms, 50), 2),
        "p99_ms": round(percentile(latencies_ms, 99), 2),
    }


def ratio(a: float, b: float, digits: int = 2) -> float:
    return round(a / b, digits) if b else float("nan")


async def load(
    label: str, total: int, concurrency: int, call: Callable[[int], Awaitable[None]]
) -> dict[str, float]:
    """``total`` calls of ``call(i)`` with ``concurrency`` in flight; latency of each."""
    return (await interleaved({label: call}, total, concurrency, rounds=1))[label]


async def interleaved(
    calls: dict[str, Callable[[int], Awaitable[None]]],
    total: int,
    concurrency: int,
    rounds: int = 4,
) -> dict[str, dict[str, float]]:
    """Each of ``calls`` ``total`` times, in ``rounds`` alternating chunks, so a machine
    that gets busier or quieter during the run (shared cores, consumers catching up)
    weighs on every variant alike instead of on whichever ran last."""
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    elapsed: dict[str, float] = dict.fromkeys(calls, 0.0)
    offset = 0
    for r in range(rounds):
        chunk = total // rounds + (r < total % rounds)
        for name, call in calls.items():

            async def timed(
                i: int,
                call: Callable[[int], Awaitable[None]] = call,
                sink: list[float] = latencies[name],
            ) -> None:
                started = time.perf_counter()
                await call(i)
                sink.append((time.perf_counter() - started) * 1000)

            started = time.perf_counter()
            await bounded(name, list(range(offset, offset + chunk)), timed, concurrency)
            elapsed[name] += time.perf_counter() - started
            offset += chunk
    return {name: stats(latencies[name], elapsed[name]) for name in calls}


class BenchPlatform(Platform):
    """The e2e platform with benchmark settings: quiet logs, no span file (its writes
    are a test aid, not production tracing), and rate limits above the offered load (the
    limiter still runs on every request; it just never says no)."""

    def _env(self, service: str) -> dict[str, str]:
        env = super()._env(service)
        env["HALCYON_LOG_LEVEL"] = "WARNING"
        env["HALCYON_SPAN_FILE"] = os.environ.get("BENCH_SPAN_FILE", "")
        return env

    def _spawn(self, service: str, app: str | None = None, **env: str) -> ServiceProcess:
        if service == "gateway":
            env["HALCYON_GATEWAY_USER_RATE_LIMIT"] = json.dumps(
                {"per_minute": 600_000, "burst": 60_000}
            )
            env["HALCYON_GATEWAY_ADDRESS_RATE_LIMIT"] = json.dumps(
                {"per_minute": 600_000, "burst": 60_000}
            )
            # Sign-in is public (limited per address); at --scale 0.05 the generator signs
            # in 75 clinicians from one address within seconds.
            env["HALCYON_GATEWAY_PUBLIC_RATE_LIMIT"] = json.dumps(
                {"per_minute": 60_000, "burst": 6_000}
            )
        return super()._spawn(service, app, **env)


class RefreshingGateway(Gateway):
    """Signs a person in again when their access token expires (a generator run at a
    larger scale outlives the tokens' lifetime) and honours a 429's Retry-After."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self._signing_in: dict[str, asyncio.Lock] = {}

    async def call(
        self, method: str, path: str, who: Person | None = None, **kwargs: Any
    ) -> httpx.Response:
        stale = who.access_token if who is not None else None
        response = await super().call(method, path, who, **kwargs)
        if who is not None and response.status_code == 401 and "expired" in response.text:
            # One sign-in per person however many requests found the token expired: the
            # others would replay the same TOTP code, which identity refuses.
            async with self._signing_in.setdefault(who.email, asyncio.Lock()):
                if who.access_token == stale:
                    await self.sign_in(who)
            response = await super().call(method, path, who, **kwargs)
        for _ in range(30):  # a polite client: wait as long as a 429 says, then retry
            if response.status_code != 429:
                break
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            response = await super().call(method, path, who, **kwargs)
        return response


@dataclass
class Context:
    servers: Servers
    platform: Platform
    gw: Gateway
    agency: Agency
    generator: Generator
    floor_url: str


# -- 1. booking -----------------------------------------------------------------------


async def booking(ctx: Context, requests: int, concurrency: int) -> dict[str, Any]:
    site = ctx.agency.home
    clients = ctx.agency.clients[site.id]
    who = site.front_desk
    await ctx.gw.sign_in(who)  # a fresh token for the direct calls below
    gen = ctx.generator

    def body(i: int) -> dict[str, Any]:
        return gen.booking(site, clients[i % len(clients)], i, gen.load.take())

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        def poster(url: str) -> Callable[[int], Awaitable[None]]:
            async def call(i: int) -> None:
                response = await http.post(url, json=body(i), headers=who.headers)
                assert response.status_code == 201, response.text

            return call

        measured = await interleaved(
            {
                "booking: bare FastAPI": poster(f"{ctx.floor_url}/clients"),
                "booking: scheduling direct": poster(
                    f"{ctx.platform.processes['scheduling'].url}/appointments"
                ),
                "booking: via gateway": poster(
                    f"{ctx.platform.gateway.url}/api/scheduling/appointments"
                ),
            },
            requests,
            concurrency,
        )
    floor = measured["booking: bare FastAPI"]
    direct = measured["booking: scheduling direct"]
    gateway = measured["booking: via gateway"]
    return {
        "floor_bare_fastapi": floor,
        "scheduling_direct": direct,
        "platform_gateway": gateway,
        "throughput_ratio_gateway_vs_direct": ratio(
            gateway["requests_per_s"], direct["requests_per_s"], 3
        ),
        "throughput_ratio_gateway_vs_floor": ratio(
            gateway["requests_per_s"], floor["requests_per_s"], 3
        ),
        "p99_ratio_gateway_vs_direct": ratio(gateway["p99_ms"], direct["p99_ms"]),
        "p99_ratio_gateway_vs_floor": ratio(gateway["p99_ms"], floor["p99_ms"]),
    }


async def charge_stored(charges: Any, query: dict[str, Any], within_s: float = 60) -> float:
    """Milliseconds until billing's store holds a charge matching ``query``."""
    started = time.perf_counter()
    deadline = time.monotonic() + within_s
    while await charges.find_one(query) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no charge matching {query} within {within_s:g} s")
        await asyncio.sleep(0.002)
    return (time.perf_counter() - started) * 1000


def latency_summary(latencies: list[float]) -> dict[str, float]:
    return {
        "events": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


# -- 2. note signed → charge created ------------------------------------------------


async def signed_to_charge(ctx: Context, events: int, raw: dict[str, float]) -> dict[str, Any]:
    s = ctx.agency.course.staff
    site = ctx.agency.home
    # Clients with no dosing session and no other note: one intake note → one charge each.
    clients = ctx.agency.clients[site.id][-events - 1 :]
    billing = connect(ctx.servers.mongo_url)
    charges = billing[ctx.platform.database("billing")]["charges"]
    tenant = ctx.agency.tenant
    now = datetime.now(UTC).replace(microsecond=0)
    latencies: list[float] = []
    try:
        for i, client_id in enumerate(clients):  # the first one warms up, not measured
            note = ok(
                await ctx.gw.post(
                    f"/api/clinical/clients/{client_id}/notes",
                    s.lead,
                    json={
                        "kind": "intake",
                        "site_id": site.id,
                        "template_id": "builtin:intake",
                        "started_at": iso(now - timedelta(days=1, hours=1)),
                        "ended_at": iso(now - timedelta(days=1)),
                        "clinicians": [{"staff_id": s.lead.id, "role": "therapist"}],
                        "diagnoses": ["F43.10"],
                        "psychotherapy_minutes": 60,
                        "content": {
                            "presenting_problem": "synthetic",
                            "history": "synthetic",
                            "mental_status": "oriented",
                            "risk_assessment": "low",
                            "plan": "benchmark",
                        },
                    },
                ),
                201,
            )
            ok(await ctx.gw.post(f"/api/clinical/notes/{note['id']}/sign", s.lead, json={}))
            waited = await charge_stored(charges, {"tenant_id": tenant, "client_id": client_id})
            if i:
                latencies.append(waited)
                progress("note signed → charge", i, len(clients) - 1)
    finally:
        await billing.close()
    mine = latency_summary(latencies)
    return {
        "measured": "intake note signed (clinical, 200 received) → charge in billing's store",
        "why": "billing captures visit charges from EncounterSigned",
        "floor_raw_aiokafka_round_trip": raw,
        "platform_note_signed_to_charge": mine,
        "p50_ratio_platform_vs_floor": ratio(mine["p50_ms"], raw["p50_ms"]),
        "p99_ratio_platform_vs_floor": ratio(mine["p99_ms"], raw["p99_ms"]),
    }


async def dispensed_to_charge(
    ctx: Context, stock: ResearchStock, appointments: list[str], raw: dict[str, float]
) -> dict[str, Any]:
    """Dose dispensed (inventory answered 201) → the drug charge in billing's store.

    Inventory writes the DEA ledger entry and ``DoseDispensed`` in one document; the
    outbox relay publishes it; billing's consumer prices the drug and writes the charge
    with ``ChargeCreated``. The synthetic agency bills its study drug per milligram
    (J3490, unclassified drug) so every dispense has a charge to wait for; real agencies
    bill esketamine this way (sponsor-supplied MDMA is not billed, ADR 0603).
    """
    s = ctx.agency.course.staff
    ok(
        await ctx.gw.put(
            "/api/billing/drug-codes/mdma",
            s.biller,
            json={"billable": True, "hcpcs": "J3490", "mg_per_unit": 1.0},
        )
    )
    dose_mg = 80.0
    lot = await stocked_lot(ctx, stock, dose_mg * len(appointments))
    await sessions_known_to_inventory(ctx, appointments)
    billing = connect(ctx.servers.mongo_url)
    charges = billing[ctx.platform.database("billing")]["charges"]
    latencies: list[float] = []
    at = iso(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10))
    try:
        for i, appointment_id in enumerate(appointments):  # the first one warms up
            entry = ok(
                await ctx.gw.post(
                    "/api/inventory/dispenses",
                    s.nurse,
                    json={
                        "appointment_id": appointment_id,
                        "lot_id": lot,
                        "location_id": stock.location_id,
                        "quantity_mg": dose_mg,
                        "supplemental": False,
                        "administered_by": s.nurse.id,
                        "witness_id": s.lead.id,
                        "prescriber_id": s.prescriber.id,
                        "administered_at": at,
                    },
                ),
                201,
            )
            # The drug charge's id derives from the ledger entry (one charge per entry,
            # ADR 0603): the poll is a lookup by _id, not a scan of every charge for an
            # unindexed ledger_entry_id every 2 ms (which loaded the database it waits on).
            query = {"_id": f"chg:dose:{entry['id']}", "tenant_id": ctx.agency.tenant}
            waited = await charge_stored(charges, query)
            if i:
                latencies.append(waited)
                progress("dose dispensed → charge", i, len(appointments) - 1)
    finally:
        await billing.close()
    mine = latency_summary(latencies)
    return {
        "measured": "dispense (inventory, 201 received) → drug charge in billing's store",
        "floor_raw_aiokafka_round_trip": raw,
        "platform_dispensed_to_charge": mine,
        "p50_ratio_platform_vs_floor": ratio(mine["p50_ms"], raw["p50_ms"]),
        "p99_ratio_platform_vs_floor": ratio(mine["p99_ms"], raw["p99_ms"]),
    }


# -- 3. partner consumer ------------------------------------------------------------------


async def partner_read(servers: Servers, messages: int) -> dict[str, Any]:
    if not servers.partner_bootstrap:
        return {"skipped": "the broker has no partner (SASL/SCRAM) listener"}
    from tests.platform.test_delivery_guarantees import client_registered

    unique = uuid.uuid4().hex[:8]
    grant = PartnerGrant(name=f"bench-{unique}", audience=f"bench{unique}")
    password = f"pw-{uuid.uuid4().hex}"
    await asyncio.to_thread(provision_partner, servers.kafka_bootstrap, grant, password)
    topic = f"{grant.topic_prefix}dose.v1"
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(messages):
            event = client_registered("bench", f"p{i}-{unique}")
            await producer.send(topic, event.to_bytes(), key=event.subject.encode())
        await producer.flush()
    finally:
        await producer.stop()

    async def read(label: str, consumer: AIOKafkaConsumer) -> dict[str, float]:
        started = time.perf_counter()
        await consumer.start()
        connected = time.perf_counter()
        count = 0
        first = 0.0
        try:
            while count < messages:
                batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
                if batch and not first:
                    first = time.perf_counter()
                count += sum(len(records) for records in batch.values())
                progress(label, min(count, messages), messages)
        finally:
            await consumer.stop()
        done = time.perf_counter()
        return {
            "messages": count,
            "messages_per_s": round(count / (done - started), 1),
            # Where the time goes: connecting (SASL handshake), joining the group and
            # the first fetch, then reading.
            "start_s": round(connected - started, 3),
            "to_first_record_s": round(first - started, 3),
            "steady_messages_per_s": round(count / max(done - first, 1e-6), 1),
        }

    raw = await read(
        "partner: raw internal",
        AIOKafkaConsumer(
            topic,
            bootstrap_servers=servers.kafka_bootstrap,
            group_id=f"raw-{unique}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        ),
    )
    partner = await read(
        "partner: SASL/SCRAM",
        AIOKafkaConsumer(
            topic,
            bootstrap_servers=servers.partner_bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username=grant.name,
            sasl_plain_password=password,
            group_id=f"{grant.group_prefix}-bench",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        ),
    )
    return {
        "topic": "partner.<audience>.dose.v1 (synthetic envelopes, 1 partition)",
        "floor_raw_internal_listener": raw,
        "platform_partner_sasl_scram": partner,
        "rate_ratio_partner_vs_floor": ratio(partner["messages_per_s"], raw["messages_per_s"], 3),
    }


# -- 4. concurrent dispenses --------------------------------------------------------------


async def stocked_lot(ctx: Context, stock: ResearchStock, stock_mg: float) -> str:
    """A new lot of the product holding ``stock_mg`` in the safe."""
    s = ctx.agency.course.staff
    lot = await new_lot(ctx.gw, s, stock, f"BENCH-{uuid.uuid4().hex[:6]}")
    await receive(ctx.gw, s, stock, lot, stock_mg, f"222-2026-{uuid.uuid4().int % 1_000_000:06d}")
    return lot


async def sessions_known_to_inventory(ctx: Context, appointments: list[str]) -> float:
    """Inventory learns of sessions from AppointmentChanged: wait until it knows all
    started; returns how long that took (s)."""
    inventory = connect(ctx.servers.mongo_url)
    book = inventory[ctx.platform.database("inventory")]["appointments"]
    try:
        waited = time.perf_counter()
        deadline = time.monotonic() + 900
        query = {"_id": {"$in": appointments}, "status": {"$in": ["checked_in", "started"]}}
        while await book.count_documents(query) < len(appointments):
            if time.monotonic() > deadline:
                raise TimeoutError("inventory did not learn of the dosing sessions")
            await asyncio.sleep(0.3)
        return round(time.perf_counter() - waited, 1)
    finally:
        await inventory.close()


async def concurrent_dispenses(
    ctx: Context, stock: ResearchStock, appointments: list[str], dose_mg: float
) -> dict[str, Any]:
    """Dosing sessions in progress each ask for ``dose_mg`` at once from a lot holding
    half of that: exactly half must succeed, and nothing may be oversold."""
    s = ctx.agency.course.staff
    gw = ctx.gw
    now = datetime.now(UTC).replace(microsecond=0)
    stock_mg = dose_mg * len(appointments) / 2
    registration, location = stock.registration_id, stock.location_id
    lot = await stocked_lot(ctx, stock, stock_mg)
    inventory_lag_s = await sessions_known_to_inventory(ctx, appointments)

    statuses: list[int] = []
    at = iso(now - timedelta(minutes=10))

    async def dispense(appointment_id: str) -> float:
        started = time.perf_counter()
        response = await gw.post(
            "/api/inventory/dispenses",
            s.nurse,
            json={
                "appointment_id": appointment_id,
                "lot_id": lot,
                "location_id": location,
                "quantity_mg": dose_mg,
                "supplemental": False,
                "administered_by": s.nurse.id,
                "witness_id": s.lead.id,
                "prescriber_id": s.prescriber.id,
                "administered_at": at,
            },
        )
        statuses.append(response.status_code)
        assert response.status_code in (201, 409), response.text
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    latencies = await asyncio.gather(*[dispense(a) for a in appointments])
    elapsed = time.perf_counter() - started
    balances = ok(
        await gw.get(f"/api/inventory/registrations/{registration}/balances", s.compliance)
    )["items"]
    dispensed_mg = statuses.count(201) * dose_mg
    return {
        "concurrent_dispenses": len(appointments),
        "waited_for_inventory_to_learn_of_sessions_s": inventory_lag_s,
        "dose_mg": dose_mg,
        "stock_mg": stock_mg,
        "dispensed": statuses.count(201),
        "refused_insufficient_stock": statuses.count(409),
        "dispenses_per_s": round(len(appointments) / elapsed, 1),
        "p50_ms": round(percentile(list(latencies), 50), 2),
        "p99_ms": round(percentile(list(latencies), 99), 2),
        "oversold_mg": max(0.0, dispensed_mg - stock_mg),
        "oversold_units": max(0.0, dispensed_mg - stock_mg) / 20,
        "balance_after": [
            {k: v for k, v in b.items() if "mg" in k or k in {"lot_id", "location_id"}}
            for b in balances
        ],
    }


# -- 5. chart open --------------------------------------------------------------------------


async def chart_open(ctx: Context, requests: int, concurrency: int) -> dict[str, Any]:
    site = ctx.agency.home
    clients = ctx.agency.clients[site.id]
    who = ctx.agency.course.staff.lead
    # A fresh token: this client calls the gateway directly (no re-sign-in on expiry),
    # and the run is older than a token's 15 minutes by now.
    await ctx.gw.sign_in(who)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=ctx.platform.gateway.url, timeout=60, limits=limits
    ) as http:

        async def via_gateway(i: int) -> None:
            response = await http.get(
                f"/api/clinical/clients/{clients[i % len(clients)]}", headers=who.headers
            )
            assert response.status_code == 200, response.text

        mongo = connect(ctx.servers.mongo_url)
        collection = mongo[ctx.platform.database("clinical")]["clients"]
        tenant = ctx.agency.tenant

        async def raw_find(i: int) -> None:
            found = await collection.find_one(
                {"tenant_id": tenant, "_id": clients[i % len(clients)]}
            )
            assert found is not None

        try:
            measured = await interleaved(
                {"chart: raw PyMongo find": raw_find, "chart: via gateway": via_gateway},
                requests,
                concurrency,
            )
        finally:
            await mongo.close()
    floor = measured["chart: raw PyMongo find"]
    gateway = measured["chart: via gateway"]
    return {
        "floor_raw_pymongo_find": floor,
        "platform_gateway": gateway,
        "throughput_ratio_gateway_vs_floor": ratio(
            gateway["requests_per_s"], floor["requests_per_s"], 3
        ),
        "p99_ratio_gateway_vs_floor": ratio(gateway["p99_ms"], floor["p99_ms"]),
    }


# -- the run --------------------------------------------------------------------------


async def consumer_lag(servers: Servers, prefix: str) -> int:
    """Events the platform's consumer groups (``prefix``...) have not yet committed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=servers.kafka_bootstrap)
    offsets = AIOKafkaConsumer(bootstrap_servers=servers.kafka_bootstrap)
    await admin.start()
    await offsets.start()
    try:
        lag = 0
        for group, *_ in await admin.list_consumer_groups():
            if not str(group).startswith(prefix):
                continue
            committed = await admin.list_consumer_group_offsets(group)
            if not committed:
                continue
            ends = await offsets.end_offsets(list(committed))
            lag += sum(
                max(0, ends[tp] - meta.offset) for tp, meta in committed.items() if meta.offset >= 0
            )
        return lag
    finally:
        await offsets.stop()
        await admin.close()


async def settle(servers: Servers, prefix: str, within_s: float = 600) -> float:
    """Wait until no consumer group of the platform lags; seconds waited."""
    started = time.perf_counter()
    deadline = started + within_s
    quiet = 0
    while time.perf_counter() < deadline:
        lag = await consumer_lag(servers, prefix)
        quiet = quiet + 1 if lag == 0 else 0
        if quiet >= 2:  # two readings a second apart: not just between two batches
            break
        sys.stderr.write(f"\rsettling: {lag} events behind            ")
        await asyncio.sleep(1)
    sys.stderr.write("\n")
    return round(time.perf_counter() - started, 1)


MEASURES = (
    "booking",
    "chart_open",
    "note_signed_to_charge",
    "partner_read",
    "dose_dispensed_to_charge",
    "concurrent_dispenses",
)


async def run_platform(
    servers: Servers,
    floor_url: str,
    raw_round_trip: dict[str, float],
    args: Any,
    run_dir: Path,
) -> dict[str, Any]:
    platform = BenchPlatform(servers, run_dir)
    try:
        started = time.perf_counter()
        platform.start()
        start_s = round(time.perf_counter() - started, 1)
        gw = RefreshingGateway(platform)
        try:
            size = AgencySize.at(args.scale)
            generator = Generator(gw, size, concurrency=args.concurrency)
            # Dosing sessions in progress: some dispensed one by one (dispensed → charge),
            # the rest all at once (concurrent dispenses).
            agency = await generator.build(dosing_sessions=args.dispenses + args.charge_events)
            ctx = Context(servers, platform, gw, agency, generator, floor_url)
            results: dict[str, Any] = {"platform_start_s": start_s}

            async def measure(name: str, work: Coroutine[Any, Any, dict[str, Any]]) -> None:
                if name not in args.only:
                    work.close()  # never started
                    return
                settled = await settle(servers, platform.prefix)
                # One measurement failing (a timeout on a loaded machine) keeps the others.
                try:
                    results[name] = await work
                except Exception as error:  # recorded in the results
                    results[name] = {"error": f"{type(error).__name__}: {error}"[:500]}
                    print(f"\n{name} failed: {results[name]['error']}", file=sys.stderr)
                results[name]["settled_after_s"] = settled

            await measure("booking", booking(ctx, args.bookings, args.concurrency))
            await measure("chart_open", chart_open(ctx, args.charts, args.concurrency))
            await measure(
                "note_signed_to_charge",
                signed_to_charge(ctx, args.charge_events, raw_round_trip),
            )
            await measure("partner_read", partner_read(servers, args.partner_messages))
            if not {"dose_dispensed_to_charge", "concurrent_dispenses"} & set(args.only):
                results["agency"] = agency.summary()
                return results
            stock = await research_stock(
                gw, agency.course.staff, agency.home.id, "Halcyon Synthetic"
            )
            sessions = agency.dosing_appointments
            charged, concurrent = sessions[: args.charge_events], sessions[args.charge_events :]
            await measure(
                "dose_dispensed_to_charge",
                dispensed_to_charge(ctx, stock, charged, raw_round_trip),
            )
            await measure(
                "concurrent_dispenses", concurrent_dispenses(ctx, stock, concurrent, 80.0)
            )
            results["agency"] = agency.summary()
            return results
        finally:
            await gw.aclose()
    finally:
        platform.stop()
