"""`python -m bench [--scale 0.05] [--requests N] [--events N]`: platform vs floors, as ratios.

Floors are measured first on the same machine, then the platform. Progress on stderr.

1. HTTP: registering a client on the clinical service (token check, validation, Mongo
   write with its outbox event) vs a bare async FastAPI endpoint, same client load.
2. Events: end-to-end latency from a request's write to the consumer in another
   process having applied it (outbox relay → Kafka → idempotent consumer), vs a raw
   aiokafka produce→consume round trip on the same broker.
3. Consumer scaling: events/s applied by 1..N instances of one consumer group.
   Then the local FerretDB (bench/ferretdb.py): the engine's mixed load on its SQLite
   and its PostgreSQL backend, and its two patches before/after (one write lock for all
   databases vs the default scope, stock query pushdown vs equality pushdown), each on
   private servers from the same binary.
4. The whole platform (bench/platform_bench.py) on a synthetic agency (bench/agency.py):
   booking, dose dispensed → charge (and note signed → charge), partner read rate,
   100 concurrent dispenses, chart open.
5. 835 ingest (bench/remit_835.py, no servers): billing's strict read and posting plan of a
   ~10 MB 835 vs a plain parse of the same bytes, time and peak memory (tracemalloc).
Every latency measure reports its tail, p99/p50, beside its ratio to the floor.
Results: bench/results/<date>.json and .md, and bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from halcyon.shared.mongo import connect
from halcyon.shared.testing.processes import ServiceProcess
from halcyon.shared.testing.servers import ensure_servers, repo_root
from halcyon.shared.testing.tokens import TestTokenIssuer

from bench.agency import AgencySize, progress
from bench.ferretdb import engine_backends, query_pushdown, write_lock_scope
from bench.platform_bench import MEASURES, run_platform
from bench.remit_835 import remit_835_ingest
from bench.remit_835 import rows as remit_835_rows

RESULTS = Path(__file__).parent / "results"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def http_load(
    label: str,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    total: int,
    concurrency: int,
) -> dict[str, float]:
    latencies: list[float] = []
    done = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                queue.get_nowait()
                started = time.perf_counter()
                response = await http.post(url, json=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 201, response.text
                done += 1
                if done % 20 == 0 or done == total:
                    progress(label, done, total)

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    return {
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


async def raw_kafka_round_trip(bootstrap: str, count: int) -> dict[str, float]:
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"g-{topic}", auto_offset_reset="earliest"
    )
    await producer.start()
    await producer.send_and_wait(topic, b"warm-up")
    await consumer.start()
    await consumer.getone()
    latencies = []
    try:
        for i in range(count):
            started = time.perf_counter()
            await producer.send_and_wait(topic, str(i).encode())
            await consumer.getone()
            latencies.append((time.perf_counter() - started) * 1000)
            progress("raw aiokafka round trip", i + 1, count)
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "events": count,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


async def platform_event_latency(
    clinical: ServiceProcess,
    mongo_url: str,
    probe_db: str,
    headers: dict[str, str],
    tenant: str,
    count: int,
) -> dict[str, float]:
    """Write → applied in another process: processed_at (consumer) minus the event time."""
    body = {
        "given_name": "Bench",
        "family_name": "Mark",
        "date_of_birth": "1980-01-01",
        "home_site_id": "site-1",
    }
    client = connect(mongo_url)
    latencies: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=clinical.url, timeout=30) as http:
            processed = client[probe_db]["processed_events"]
            for i in range(-1, count):  # -1: warm-up (consumer group join), not measured
                created = await http.post("/clients", json=body, headers=headers)
                client_id = created.json()["id"]
                registered = datetime.fromisoformat(created.json()["registered_at"])
                deadline = time.monotonic() + 30
                marker = None
                # The consumer marks an event processed right after applying it.
                while marker is None and time.monotonic() < deadline:
                    if await processed.count_documents({"tenant_id": tenant}) >= i + 2:
                        marker = await processed.find_one(
                            {"tenant_id": tenant}, sort=[("processed_at", -1)]
                        )
                    else:
                        # The latency is the consumer's own processed_at, not when this
                        # loop sees it: polling (a count over processed_events) more often
                        # only loads the database the consumer is waiting on.
                        await asyncio.sleep(0.01)
                assert marker is not None, f"event for {client_id} not applied within 30 s"
                if i >= 0:
                    latencies.append((marker["processed_at"] - registered).total_seconds() * 1000)
                    progress("platform write → applied", i + 1, count)
    finally:
        await client.close()
    return {
        "events": count,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


async def drain(mongo_url: str, probe_db: str, tenant: str, expected: int) -> None:
    client = connect(mongo_url)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = await client[probe_db]["processed_events"].count_documents({"tenant_id": tenant})
            progress("consumer catching up", min(done, expected), expected)
            if done >= expected:
                return
            await asyncio.sleep(0.5)
        raise RuntimeError("the consumer did not catch up within 300 s")
    finally:
        await client.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    servers = ensure_servers()
    issuer = TestTokenIssuer()
    unique = uuid.uuid4().hex[:8]
    tenant = f"bench-{unique}"
    log_dir = Path(tempfile.mkdtemp(prefix="halcyon-bench-"))
    env = {
        "HALCYON_ENVIRONMENT": "test",
        "HALCYON_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "HALCYON_MONGO_URL": servers.mongo_url,
        "HALCYON_TOPIC_PREFIX": f"b{unique}.",
        "HALCYON_JWT_PUBLIC_KEY": issuer.public_pem,
        "HALCYON_LOG_LEVEL": "WARNING",
        "HALCYON_CLINICAL_DATABASE_NAME": f"bench_{unique}_clinical",
        "HALCYON_PROBE_DATABASE_NAME": f"bench_{unique}_probe",
        "PYTHONPATH": str(repo_root()),
        "HALCYON_SPAN_FILE": os.environ.get("BENCH_SPAN_FILE", ""),
    }
    floor = ServiceProcess("floor", env, log_dir, app="bench.floor_app:app").start()
    clinical = ServiceProcess("clinical", env, log_dir).start()
    probe = ServiceProcess("probe", env, log_dir, app="tests.platform.probe_app:app").start()
    try:
        for process in (floor, clinical, probe):
            process.wait_ready()
        headers = issuer.headers(tenant_id=tenant, roles=[("site-1", "front_desk")])
        body = {
            "given_name": "Bench",
            "family_name": "Mark",
            "date_of_birth": "1980-01-01",
            "home_site_id": "site-1",
        }
        results: dict[str, Any] = {}
        if args.remit_835_megabytes > 0:
            progress("835 ingest", 0, 1)
            results["remit_835_ingest"] = await asyncio.to_thread(
                remit_835_ingest, args.remit_835_megabytes
            )
            progress("835 ingest", 1, 1)
        floor_http = await http_load(
            "bare FastAPI POST",
            f"{floor.url}/clients",
            body,
            headers,
            args.requests,
            args.concurrency,
        )
        platform_http = await http_load(
            "clinical POST /clients",
            f"{clinical.url}/clients",
            body,
            headers,
            args.requests,
            args.concurrency,
        )
        results["http_register_client"] = {
            "floor_bare_fastapi": floor_http,
            "platform_clinical": platform_http,
            "throughput_ratio_platform_vs_floor": round(
                platform_http["requests_per_s"] / floor_http["requests_per_s"], 3
            ),
            "p99_ratio_platform_vs_floor": round(platform_http["p99_ms"] / floor_http["p99_ms"], 2),
        }
        raw = await raw_kafka_round_trip(servers.kafka_bootstrap, args.events)
        # Let the consumer finish the load phase's events so latency is not queueing.
        await drain(servers.mongo_url, env["HALCYON_PROBE_DATABASE_NAME"], tenant, args.requests)
        # A tenant of its own, so the load above does not count as processed here.
        latency_tenant = f"{tenant}-latency"
        platform = await platform_event_latency(
            clinical,
            servers.mongo_url,
            env["HALCYON_PROBE_DATABASE_NAME"],
            issuer.headers(tenant_id=latency_tenant, roles=[("site-1", "front_desk")]),
            latency_tenant,
            args.events,
        )
        results["event_end_to_end"] = {
            "floor_raw_aiokafka_round_trip": raw,
            "platform_write_to_applied": platform,
            "p50_ratio_platform_vs_floor": round(platform["p50_ms"] / raw["p50_ms"], 2),
            "p99_ratio_platform_vs_floor": round(platform["p99_ms"] / raw["p99_ms"], 2),
        }
        if args.scaling_events:
            results["consumer_scaling"] = await consumer_scaling(
                servers, env, log_dir, args.scaling_events, args.max_instances, args.scaling_rounds
            )
        # The clinical and probe processes of the basics would compete with the platform.
        for process in (clinical, probe):
            process.kill()
        if args.engine_seconds:
            results["engine_backends"] = await engine_backends(
                args.engine_documents, args.concurrency, args.engine_seconds
            )
        if args.write_lock_rounds:
            results["write_lock_scope"] = await write_lock_scope(args.write_lock_rounds)
        if args.pushdown_documents:
            sizes = tuple(sorted({1000, args.pushdown_documents // 4, args.pushdown_documents}))
            results["query_pushdown"] = await query_pushdown(sizes)
        if not args.skip_platform:
            results["platform"] = await run_platform(
                servers, floor.url, raw, args, Path(tempfile.mkdtemp(prefix="halcyon-bench-p-"))
            )
        return results
    finally:
        for process in (floor, clinical, probe):
            process.kill()


async def consumer_scaling(
    servers: Any, env: dict[str, str], log_dir: Path, events: int, max_instances: int, rounds: int
) -> dict[str, Any]:
    """Events/s applied by one consumer service with 1..N instances in one group.

    Rounds alternate (1, 2, 3, 1, 2, 3, …) and each count reports its median: on a shared
    machine one pass measured 2 instances below 1 (the load of other work drifts)."""
    by_count: dict[str, list[float]] = {str(n): [] for n in range(1, max_instances + 1)}
    for _ in range(rounds):
        for instances in range(1, max_instances + 1):
            by_count[str(instances)].append(
                await scaling_round(servers, env, log_dir, events, instances)
            )
    rates = {n: round(statistics.median(values), 1) for n, values in by_count.items()}
    return {
        "events": events,
        "rounds": rounds,
        "events_per_s_by_instances": rates,
        "events_per_s_each_round": by_count,
        "ratio_vs_one_instance": {k: round(v / rates["1"], 2) for k, v in rates.items()},
    }


async def scaling_round(
    servers: Any, env: dict[str, str], log_dir: Path, events: int, instances: int
) -> float:
    """One round: ``instances`` consumers in one group apply ``events`` events; events/s."""
    from tests.platform.test_delivery_guarantees import client_registered

    unique = uuid.uuid4().hex[:8]
    run_env = {
        **env,
        "HALCYON_TOPIC_PREFIX": f"s{unique}.",
        "HALCYON_TOPIC_PARTITIONS": "6",
        "HALCYON_PROBE_DATABASE_NAME": f"bench_{unique}_scale",
        "HALCYON_PROBE_GUARD_WRITES_BY_EVENT_ID": "1",
    }
    probes = [
        ServiceProcess("probe", run_env, log_dir, app="tests.platform.probe_app:app").start()
        for _ in range(instances)
    ]
    client = connect(servers.mongo_url)
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap, acks="all")
    try:
        for probe in probes:
            probe.wait_ready()
        await producer.start()
        topic = f"s{unique}.clinical.client.v1"
        tally = client[f"bench_{unique}_scale"]["tally"]
        # Warm-up: every instance has joined the group once 12 events are applied.
        for i in range(12):
            e = client_registered("bench", f"warm-{i}")
            await producer.send_and_wait(topic, e.to_bytes(), key=e.subject.encode())
        while (warmed := await tally.count_documents({})) < 12:
            progress(f"warm-up x{instances}", warmed, 12)
            await asyncio.sleep(0.2)
        batch = [client_registered("bench", f"e{i}-{unique}") for i in range(events)]
        started = time.perf_counter()
        for e in batch:
            await producer.send(topic, e.to_bytes(), key=e.subject.encode())
        await producer.flush()
        while (done := await tally.count_documents({})) < events + 12:
            progress(f"consumers x{instances}", done - 12, events)
            # A round lasts ~2 s at 300 events: a 0.2 s poll would be a tenth of it.
            await asyncio.sleep(0.02)
        progress(f"consumers x{instances}", events, events)
        return round(events / (time.perf_counter() - started), 1)
    finally:
        await producer.stop()
        await client.close()
        for probe in probes:
            probe.kill()


def write_results(results: dict[str, Any], args: argparse.Namespace) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    payload = {
        "when": stamp,
        "machine": {"cpus": os.cpu_count()},
        "parameters": vars(args),
        "agency_size": vars(AgencySize.at(args.scale)),
        "results": results,
    }
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(payload, indent=2))
    http = results["http_register_client"]
    events = results["event_end_to_end"]
    raw = events["floor_raw_aiokafka_round_trip"]
    mine = events["platform_write_to_applied"]
    table = [
        f"# Benchmark {stamp} ({os.cpu_count()} cores)",
        "",
        f"The whole run (`python -m bench {' '.join(sys.argv[1:])}`) took "
        f"{results['run_minutes']} minutes.",
        "",
        f"Mongo-wire server: FerretDB on {backend()} (HALCYON_MONGO_BACKEND).",
        "",
        "| measure | floor | platform | ratio | platform p99/p50 |",
        "|---|---|---|---|---|",
        f"| register client, req/s | bare FastAPI {http['floor_bare_fastapi']['requests_per_s']} "
        f"| {http['platform_clinical']['requests_per_s']} "
        f"| {http['throughput_ratio_platform_vs_floor']} | {tail(http['platform_clinical'])} |",
        f"| register client, p50 / p99 ms | {http['floor_bare_fastapi']['p50_ms']} / "
        f"{http['floor_bare_fastapi']['p99_ms']} | {http['platform_clinical']['p50_ms']} / "
        f"{http['platform_clinical']['p99_ms']} | p99 {http['p99_ratio_platform_vs_floor']} "
        f"| {tail(http['platform_clinical'])} |",
        f"| event write→applied, p50 / p99 ms | raw aiokafka {raw['p50_ms']} / {raw['p99_ms']} "
        f"| {mine['p50_ms']} / {mine['p99_ms']} | {events['p50_ratio_platform_vs_floor']} / "
        f"{events['p99_ratio_platform_vs_floor']} | {tail(mine)} |",
        "",
    ]
    scaling = results.get("consumer_scaling")
    if scaling:
        for n, rate in scaling["events_per_s_by_instances"].items():
            table.insert(
                -1,
                f"| consumer events/s, {n} instance(s) | 1 instance "
                f"{scaling['events_per_s_by_instances']['1']} | {rate} "
                f"| {scaling['ratio_vs_one_instance'][n]} | n/a (a rate) |",
            )
    engine = results.get("engine_backends")
    if engine:
        table[-1:-1] = engine_rows(engine)
    lock = results.get("write_lock_scope")
    if lock:
        table[-1:-1] = write_lock_rows(lock)
    pushdown = results.get("query_pushdown")
    if pushdown:
        table[-1:-1] = pushdown_rows(pushdown)
    remit = results.get("remit_835_ingest")
    if remit:
        table[-1:-1] = remit_835_rows(remit)
    platform = results.get("platform")
    if platform:
        table[-1:-1] = platform_rows(platform)
        table.append(agency_line(platform))
    (RESULTS / f"{stamp}.md").write_text("\n".join(table))
    (RESULTS / "latest.md").write_text("\n".join(table))
    print("\n".join(table))
    return path


def tail(measure: dict[str, Any]) -> str:
    """p99/p50 of a latency measure: how far its slowest requests are from its typical."""
    p50, p99 = measure.get("p50_ms"), measure.get("p99_ms")
    return f"{p99 / p50:.1f}" if p50 and p99 else "n/a"


def backend() -> str:
    return os.environ.get("HALCYON_MONGO_BACKEND", "postgresql")


def engine_rows(e: dict[str, Any]) -> list[str]:
    sq, pg = e["sqlite"], e["postgresql"]
    rows = [
        f"| FerretDB mixed load, {e['documents']} docs, {e['clients']} clients, ops/s "
        f"| SQLite {sq['all']['ops_per_s']} | PostgreSQL {pg['all']['ops_per_s']} "
        f"| {e['ops_per_s_ratio_postgresql_vs_sqlite']} | SQLite {tail(sq['all'])}; "
        f"PostgreSQL {tail(pg['all'])} |",
    ]
    for kind in ("get", "find", "inc", "booking"):
        if kind in sq and kind in pg:
            rows.append(
                f"| FerretDB mixed load: {kind}, p50 / p99 ms | SQLite {sq[kind]['p50_ms']} / "
                f"{sq[kind]['p99_ms']} | PostgreSQL {pg[kind]['p50_ms']} / {pg[kind]['p99_ms']} "
                f"| p50 {ratio(pg[kind]['p50_ms'], sq[kind]['p50_ms'])} "
                f"| SQLite {tail(sq[kind])}; PostgreSQL {tail(pg[kind])} |"
            )
    return rows


def platform_rows(p: dict[str, Any]) -> list[str]:
    rows: list[str] = [
        f"| {name}: failed | | {p[name]['error'][:120]} | | |"
        for name in MEASURES
        if "error" in p.get(name, {})
    ]
    b = p.get("booking", {})
    if b and "error" not in b:
        rows += booking_rows(b)
    dc = p.get("dose_dispensed_to_charge", {})
    if dc and "error" not in dc:
        rows += charge_rows(dc, "dose dispensed", "platform_dispensed_to_charge")
    c = p.get("note_signed_to_charge", {})
    if c and "error" not in c:
        rows += charge_rows(c, "note signed", "platform_note_signed_to_charge")
    r = p.get("partner_read", {})
    if r and "error" not in r and "skipped" not in r:
        rows += partner_rows(r)
    d = p.get("concurrent_dispenses", {})
    if d and "error" not in d:
        rows += dispense_rows(d)
    ch = p.get("chart_open", {})
    if ch and "error" not in ch:
        rows += chart_rows(ch)
    return rows


def booking_rows(b: dict[str, Any]) -> list[str]:
    rows: list[str] = []
    gw, direct, floor = b["platform_gateway"], b["scheduling_direct"], b["floor_bare_fastapi"]
    rows += [
        f"| booking via gateway, req/s | scheduling direct {direct['requests_per_s']}; "
        f"bare FastAPI {floor['requests_per_s']} | {gw['requests_per_s']} "
        f"| {b['throughput_ratio_gateway_vs_direct']} vs direct; "
        f"{b['throughput_ratio_gateway_vs_floor']} vs bare | {tail(gw)} |",
        f"| booking via gateway, p50 / p99 ms | direct {direct['p50_ms']} / {direct['p99_ms']}; "
        f"bare {floor['p50_ms']} / {floor['p99_ms']} | {gw['p50_ms']} / {gw['p99_ms']} "
        f"| p99 {b['p99_ratio_gateway_vs_direct']} vs direct; "
        f"{b['p99_ratio_gateway_vs_floor']} vs bare | {tail(gw)} |",
    ]
    return rows


def charge_rows(c: dict[str, Any], cause: str, key: str) -> list[str]:
    rows: list[str] = []
    raw, mine = c["floor_raw_aiokafka_round_trip"], c[key]
    rows.append(
        f"| {cause} → charge created, p50 / p99 ms | raw aiokafka {raw['p50_ms']} / "
        f"{raw['p99_ms']} | {mine['p50_ms']} / {mine['p99_ms']} "
        f"| {c['p50_ratio_platform_vs_floor']} / {c['p99_ratio_platform_vs_floor']} "
        f"| {tail(mine)} |"
    )
    return rows


def partner_rows(r: dict[str, Any]) -> list[str]:
    rows: list[str] = []
    rows.append(
        f"| partner read (SASL/SCRAM), msg/s | raw internal "
        f"{r['floor_raw_internal_listener']['messages_per_s']} "
        f"| {r['platform_partner_sasl_scram']['messages_per_s']} "
        f"| {r['rate_ratio_partner_vs_floor']} | n/a (a rate) |"
    )
    return rows


def dispense_rows(d: dict[str, Any]) -> list[str]:
    rows: list[str] = []
    rows.append(
        f"| {d['concurrent_dispenses']} concurrent dispenses | stock for "
        f"{int(d['stock_mg'] // d['dose_mg'])} | {d['dispensed']} dispensed, "
        f"{d['refused_insufficient_stock']} refused, {d['dispenses_per_s']}/s, "
        f"p50 / p99 {d['p50_ms']} / {d['p99_ms']} ms | oversold {d['oversold_units']:g} units "
        f"| {tail(d)} |"
    )
    return rows


def chart_rows(ch: dict[str, Any]) -> list[str]:
    rows: list[str] = []
    rows += [
        f"| chart open via gateway, req/s | raw PyMongo find "
        f"{ch['floor_raw_pymongo_find']['requests_per_s']} "
        f"| {ch['platform_gateway']['requests_per_s']} "
        f"| {ch['throughput_ratio_gateway_vs_floor']} | {tail(ch['platform_gateway'])} |",
        f"| chart open via gateway, p50 / p99 ms | raw PyMongo find "
        f"{ch['floor_raw_pymongo_find']['p50_ms']} / {ch['floor_raw_pymongo_find']['p99_ms']} "
        f"| {ch['platform_gateway']['p50_ms']} / {ch['platform_gateway']['p99_ms']} "
        f"| p99 {ch['p99_ratio_gateway_vs_floor']} | {tail(ch['platform_gateway'])} |",
    ]
    return rows


def write_lock_rows(lock: dict[str, Any]) -> list[str]:
    before, after = lock["before_global_lock"], lock["after_default_lock"]
    scope = f"per-{lock['default_lock_scope']} lock (after)"
    return [
        f"| FerretDB writes/s, 6 databases at once | global lock (before) "
        f"{before['parallel']['writes_per_s']} | {scope} "
        f"{after['parallel']['writes_per_s']} "
        f"| {lock['parallel_writes_per_s_ratio_after_vs_before']} | {tail(after['parallel'])} |",
        f"| a small write beside 400-doc batches in another database, p50 / p99 ms "
        f"| global lock (before) {before['beside_batches']['p50_ms']} / "
        f"{before['beside_batches']['p99_ms']} | {scope} "
        f"{after['beside_batches']['p50_ms']} / {after['beside_batches']['p99_ms']} "
        f"| p99 {lock['small_write_p99_ratio_after_vs_before']} "
        f"| {tail(after['beside_batches'])} |",
    ]


def ratio(after: float, before: float) -> float:
    return round(after / before, 4) if before else float("nan")


def pushdown_rows(pushdown: dict[str, Any]) -> list[str]:
    rows = []
    for size in map(str, pushdown["documents"]):
        before, after = pushdown["before_stock"][size], pushdown["after_pushdown"][size]
        find_before, find_after = (
            before["find_by_appointment_p50_ms"],
            after["find_by_appointment_p50_ms"],
        )
        rows += [
            f"| FerretDB get {{_id, tenant_id}}, {size} docs, p50 / p99 ms | stock (before) "
            f"{before['get_p50_ms']} / {before['get_p99_ms']} | pushdown (after) "
            f"{after['get_p50_ms']} / {after['get_p99_ms']} "
            f"| p50 {ratio(after['get_p50_ms'], before['get_p50_ms'])} "
            f"| {tail({'p50_ms': after['get_p50_ms'], 'p99_ms': after['get_p99_ms']})} |",
            f"| FerretDB find {{tenant_id, appointment_id}}, {size} docs, p50 / p99 ms "
            f"| stock (before) {before['find_by_appointment_p50_ms']} / "
            f"{before['find_by_appointment_p99_ms']} | pushdown (after) "
            f"{after['find_by_appointment_p50_ms']} / {after['find_by_appointment_p99_ms']} "
            f"| p50 {ratio(find_after, find_before)} "
            f"| {tail({'p50_ms': find_after, 'p99_ms': after['find_by_appointment_p99_ms']})} |",
        ]
    return rows


def agency_line(p: dict[str, Any]) -> str:
    a = p["agency"]
    return (
        f"Synthetic agency at scale {a['scale']}: {a['sites']} site(s), {a['clinicians']} "
        f"clinicians, {a['clients']} clients, {a['appointments']} appointments "
        f"({a['dosing_sessions_in_progress']} dosing sessions in progress); "
        f"generated through the gateway in {sum(a['seconds'].values()):.0f} s "
        f"({', '.join(f'{k} {v} s' for k, v in a['seconds'].items())}). "
        "Before each measure the platform settled (no consumer group behind) in: "
        + ", ".join(
            f"{name} {p[name]['settled_after_s']} s"
            for name in MEASURES
            if "settled_after_s" in p.get(name, {})
        )
        + ".\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--events", type=int, default=60)
    parser.add_argument("--scaling-events", type=int, default=600, help="0 skips scaling")
    parser.add_argument("--max-instances", type=int, default=3)
    parser.add_argument(
        "--scaling-rounds", type=int, default=3, help="alternating rounds; medians reported"
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=0.05,
        help="of the synthetic agency (50 sites, 1,500 clinicians, 60,000 clients, a busy week)",
    )
    parser.add_argument("--bookings", type=int, default=200, help="per booking measurement")
    parser.add_argument("--charts", type=int, default=400, help="chart opens per measurement")
    parser.add_argument("--charge-events", type=int, default=30, help="notes signed, one by one")
    parser.add_argument("--partner-messages", type=int, default=5000)
    parser.add_argument("--dispenses", type=int, default=100, help="fired at once")
    parser.add_argument(
        "--write-lock-rounds", type=int, default=2, help="FerretDB lock before/after; 0 skips"
    )
    parser.add_argument(
        "--pushdown-documents",
        type=int,
        default=10000,
        help="largest collection for the FerretDB pushdown before/after; 0 skips",
    )
    parser.add_argument(
        "--engine-seconds",
        type=float,
        default=20,
        help="mixed load on each FerretDB backend (SQLite, PostgreSQL); 0 skips",
    )
    parser.add_argument("--engine-documents", type=int, default=20000)
    parser.add_argument(
        "--remit-835-megabytes",
        type=float,
        default=10.0,
        help="size of the 835 for the remit_835_ingest measure; 0 skips",
    )
    parser.add_argument("--skip-platform", action="store_true", help="only (a)-(c)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=MEASURES,
        default=list(MEASURES),
        help="platform measures to run (default: all)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    results = asyncio.run(run(args))
    results["run_minutes"] = round((time.perf_counter() - started) / 60, 1)
    print(f"results: {write_results(results, args)}")


if __name__ == "__main__":
    main()
