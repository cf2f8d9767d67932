"""The local FerretDB: its two backends, and before/after of the patches built into it.

**Backends.** The engine's mixed load (gets by ``{_id, tenant_id}``, indexed finds,
``$inc``, booking-like ``insert_many`` + update from 16 clients) on the SQLite and the
PostgreSQL backend of the same binary, on private servers (``HALCYON_MONGO_BACKEND``).

Each is switched by an environment variable read at start-up, so both sides run from
the same binary on private servers, alternating, in the same run.

**Write lock scope.** ``deploy/local/ferretdb/halcyon_serialize_writes.go`` serializes
write commands so single-document updates are atomic (stock FerretDB 1.x races). Its
first version held ONE lock for every database, so scheduling writing a dosing
session's ~400 slot claims made every other service's writes wait. The lock is now per
collection on PostgreSQL (per database on SQLite); ``HALCYON_FERRETDB_WRITE_LOCK=global``
restores the old behaviour. The same two workloads run against both, alternating:

1. six services' databases, each with a few writers doing outbox-style writes (insert a
   document with a pending event, then a conditional ``$inc``): writes/s and p50/p99;
2. a small write's latency in one database while another database takes 400-document
   batches (a dosing booking's slot claims): p50/p99 of the small write.

**Query pushdown** (``deploy/local/ferretdb/halcyon_pushdown.go``). Stock FerretDB 1.x
on SQLite hands SQL a filter only when it is exactly ``{_id}`` (and even then misses the
index); anything else decodes the whole collection in Go. The patch pushes equality on
top-level fields down; ``HALCYON_FERRETDB_PUSHDOWN=stock`` turns it off. Measured on a
slot-claims-like collection: a repository ``get`` (``{_id, tenant_id}``) and a find by
``{tenant_id, appointment_id}``, p50/p99 each, as the collection grows.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from halcyon.shared.mongo import connect
from halcyon.shared.testing.servers import repo_root

from bench.agency import progress

SERVICES = ("identity", "clinical", "scheduling", "inventory", "billing", "notifications")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def free_port(start: int = 27100) -> int:
    # Below 32768 (see servers.sh): an ephemeral port could be taken by an outgoing socket.
    for port in range(start, start + 400):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for a benchmark FerretDB")


@contextmanager
def ferretdb(port_from: int, **variables: str) -> Iterator[str]:
    """A private FerretDB from the project's launcher (same cached binary), then gone."""
    run_dir = Path(tempfile.mkdtemp(prefix="halcyon-bench-ferretdb-"))
    port = free_port(port_from)
    env = {
        **os.environ,
        "HALCYON_RUN_DIR": str(run_dir),
        "HALCYON_MONGO_PORT": str(port),
        # its own PostgreSQL cluster (on the PostgreSQL backend), beside the developer's
        "HALCYON_POSTGRES_PORT": str(free_port(port_from + 2000)),
        **variables,
    }
    script = str(repo_root() / "deploy" / "local" / "servers.sh")
    try:
        started = subprocess.run(["bash", script, "start-mongo"], env=env, capture_output=True)
        if started.returncode != 0:
            error = started.stderr.decode()[-2000:]
            raise RuntimeError(f"private FerretDB did not start: {error}")
        yield f"mongodb://127.0.0.1:{port}/"
    finally:
        # wipe: stops FerretDB and PostgreSQL, removes the cluster wherever it lives
        subprocess.run(["bash", script, "wipe"], env=env, check=False, capture_output=True)
        shutil.rmtree(run_dir, ignore_errors=True)


async def parallel_services(url: str, writers: int, writes: int) -> dict[str, float]:
    client = connect(url)
    run = uuid.uuid4().hex[:6]
    latencies: list[float] = []
    try:

        async def writer(service: str, n: int) -> None:
            items = client[f"lock_{run}_{service}"]["items"]
            for i in range(writes):
                doc_id = f"{n}-{i}"
                started = time.perf_counter()
                await items.insert_one(
                    {"_id": doc_id, "qty": 10, "_outbox": [{"id": doc_id}], "_pending": True}
                )
                await items.update_one({"_id": doc_id, "qty": {"$gte": 1}}, {"$inc": {"qty": -1}})
                latencies.append((time.perf_counter() - started) * 1000)

        for service in SERVICES:  # create the databases first: not part of the measure
            await client[f"lock_{run}_{service}"]["items"].insert_one({"_id": "warm-up"})
        started = time.perf_counter()
        await asyncio.gather(*(writer(s, n) for s in SERVICES for n in range(writers)))
        elapsed = time.perf_counter() - started
        for service in SERVICES:
            await client.drop_database(f"lock_{run}_{service}")
    finally:
        await client.close()
    return {
        "writes": len(latencies) * 2,
        "writes_per_s": round(len(latencies) * 2 / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


async def small_write_beside_batches(url: str, writes: int, batch: int) -> dict[str, float]:
    client = connect(url)
    run = uuid.uuid4().hex[:6]
    small = client[f"lock_{run}_clinical"]["audit"]
    claims = client[f"lock_{run}_scheduling"]["slot_claims"]
    latencies: list[float] = []
    done = asyncio.Event()
    try:
        await small.insert_one({"_id": "warm-up"})
        await claims.insert_one({"_id": "warm-up"})

        async def booking_load() -> None:
            n = 0
            while not done.is_set():
                docs = [{"_id": f"{n}-{i}", "resource": "room-1"} for i in range(batch)]
                await claims.insert_many(docs, ordered=False)
                n += 1

        load = asyncio.create_task(booking_load())
        try:
            for i in range(writes):
                started = time.perf_counter()
                await small.insert_one({"_id": i, "action": "chart.read"})
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.005)
        finally:
            done.set()
            await load
        await client.drop_database(f"lock_{run}_clinical")
        await client.drop_database(f"lock_{run}_scheduling")
    finally:
        await client.close()
    return {
        "writes": writes,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


async def write_lock_scope(rounds: int = 2, writes: int = 60) -> dict[str, Any]:
    """Both workloads on a global-lock and a per-database-lock server, alternating."""
    totals: dict[str, dict[str, list[dict[str, float]]]] = {
        lock: {"parallel": [], "beside_batches": []} for lock in ("global", "narrow")
    }
    with (
        ferretdb(27100, HALCYON_FERRETDB_WRITE_LOCK="global") as global_url,
        ferretdb(27300) as narrow_url,  # the default: per collection on PostgreSQL
    ):
        step = 0
        for _ in range(rounds):
            for lock, url in (("global", global_url), ("narrow", narrow_url)):
                totals[lock]["parallel"].append(await parallel_services(url, 3, writes))
                totals[lock]["beside_batches"].append(
                    await small_write_beside_batches(url, writes, 400)
                )
                step += 1
                progress("FerretDB write lock scope", step, rounds * 2)

    def merged(runs: list[dict[str, float]]) -> dict[str, float]:
        return {key: round(sum(r[key] for r in runs) / len(runs), 2) for key in runs[0]}

    before = {kind: merged(runs) for kind, runs in totals["global"].items()}
    after = {kind: merged(runs) for kind, runs in totals["narrow"].items()}
    return {
        "before_global_lock": before,
        "after_default_lock": after,
        "default_lock_scope": "collection" if backend() == "postgresql" else "database",
        "parallel_writes_per_s_ratio_after_vs_before": round(
            after["parallel"]["writes_per_s"] / before["parallel"]["writes_per_s"], 2
        ),
        "small_write_p99_ratio_after_vs_before": round(
            after["beside_batches"]["p99_ms"] / before["beside_batches"]["p99_ms"], 3
        ),
    }


async def lookups(url: str, sizes: tuple[int, ...], probes: int) -> dict[str, dict[str, float]]:
    """Grow a slot-claims-like collection and time the two lookups at each size."""
    client = connect(url)
    run = uuid.uuid4().hex[:6]
    claims = client[f"pushdown_{run}"]["slot_claims"]
    out: dict[str, dict[str, float]] = {}
    try:
        await claims.create_index([("tenant_id", 1), ("appointment_id", 1)])
        have = 0
        for size in sizes:
            while have < size:
                batch = [
                    {
                        "_id": f"t{i % 2}|room-{i % 7}|{i}",
                        "tenant_id": f"t{i % 2}",
                        "appointment_id": f"a{i // 100}",
                        "resource": f"room-{i % 7}",
                    }
                    for i in range(have, min(size, have + 2000))
                ]
                await claims.insert_many(batch, ordered=False)
                have += len(batch)
            by_id: list[float] = []
            by_appointment: list[float] = []
            for n in range(probes):
                i = (n * 7919) % size
                started = time.perf_counter()
                tenant = f"t{i % 2}"
                claim_id = f"{tenant}|room-{i % 7}|{i}"
                assert await claims.find_one({"_id": claim_id, "tenant_id": tenant})
                by_id.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                query = {"tenant_id": tenant, "appointment_id": f"a{i // 100}"}
                found = [d async for d in claims.find(query)]
                by_appointment.append((time.perf_counter() - started) * 1000)
                assert found
            out[str(size)] = {
                "get_p50_ms": round(percentile(by_id, 50), 2),
                "get_p99_ms": round(percentile(by_id, 99), 2),
                "find_by_appointment_p50_ms": round(percentile(by_appointment, 50), 2),
                "find_by_appointment_p99_ms": round(percentile(by_appointment, 99), 2),
            }
        await client.drop_database(f"pushdown_{run}")
    finally:
        await client.close()
    return out


async def query_pushdown(
    sizes: tuple[int, ...] = (1000, 10000, 40000), probes: int = 20
) -> dict[str, Any]:
    """The same lookups on stock pushdown (before) and the patch (after)."""
    with (
        ferretdb(27500, HALCYON_FERRETDB_PUSHDOWN="stock") as stock_url,
        ferretdb(27700) as patched_url,
    ):
        progress("FerretDB query pushdown", 0, 2)
        before = await lookups(stock_url, sizes, probes)
        progress("FerretDB query pushdown", 1, 2)
        after = await lookups(patched_url, sizes, probes)
        progress("FerretDB query pushdown", 2, 2)
    largest = str(sizes[-1])
    return {
        "documents": list(sizes),
        "before_stock": before,
        "after_pushdown": after,
        "get_p50_ratio_after_vs_before_at_largest": round(
            after[largest]["get_p50_ms"] / before[largest]["get_p50_ms"], 4
        ),
        "find_p50_ratio_after_vs_before_at_largest": round(
            after[largest]["find_by_appointment_p50_ms"]
            / before[largest]["find_by_appointment_p50_ms"],
            4,
        ),
    }


def backend() -> str:
    """The backend servers.sh starts by default (what the private servers above run)."""
    return os.environ.get("HALCYON_MONGO_BACKEND", "postgresql")


def summary(latencies: list[float]) -> dict[str, float]:
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return {
        "ops": len(latencies),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "p99_over_p50": round(p99 / p50, 1) if p50 else float("nan"),
    }


async def mixed_load(
    url: str, documents: int, clients: int, seconds: float
) -> dict[str, dict[str, float]]:
    """16 clients for ``seconds``: 50 % get {_id, tenant_id}, 20 % indexed find, 20 %
    ``$inc``, 10 % a booking (``insert_many`` of 36 claims, then an update)."""
    client = connect(url)
    run = uuid.uuid4().hex[:6]
    claims = client[f"engine_{run}"]["slot_claims"]
    counters = client[f"engine_{run}"]["counters"]
    latencies: dict[str, list[float]] = {"get": [], "find": [], "inc": [], "booking": []}
    try:
        await claims.create_index([("tenant_id", 1), ("appointment_id", 1)])
        for start in range(0, documents, 2000):
            await claims.insert_many(
                [
                    {
                        "_id": f"t{i % 4}|room-{i % 7}|{i}",
                        "tenant_id": f"t{i % 4}",
                        "appointment_id": f"a{i // 36}",
                        "resource": f"room-{i % 7}",
                    }
                    for i in range(start, min(documents, start + 2000))
                ],
                ordered=False,
            )
        await counters.insert_many([{"_id": f"c{i}", "tenant_id": "t0", "n": 0} for i in range(50)])
        deadline = time.perf_counter() + seconds

        async def worker(w: int) -> None:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                i = (w * 7919 + n * 104729) % documents
                tenant = f"t{i % 4}"
                kind = ("get",) * 5 + ("find",) * 2 + ("inc",) * 2 + ("booking",)
                op = kind[(w + n) % 10]
                started = time.perf_counter()
                if op == "get":
                    found = await claims.find_one(
                        {"_id": f"{tenant}|room-{i % 7}|{i}", "tenant_id": tenant}
                    )
                    assert found is not None
                elif op == "find":
                    query = {"tenant_id": tenant, "appointment_id": f"a{i // 36}"}
                    assert [d async for d in claims.find(query)]
                elif op == "inc":
                    await counters.update_one(
                        {"_id": f"c{i % 50}", "tenant_id": "t0"}, {"$inc": {"n": 1}}
                    )
                else:
                    appointment = f"b{w}-{n}"
                    await claims.insert_many(
                        [
                            {
                                "_id": f"t9|{appointment}|{k}",
                                "tenant_id": "t9",
                                "appointment_id": appointment,
                                "resource": f"room-{k % 3}",
                            }
                            for k in range(36)
                        ],
                        ordered=True,
                    )
                    await counters.update_one(
                        {"_id": f"c{i % 50}", "tenant_id": "t0"}, {"$set": {"last": appointment}}
                    )
                latencies[op].append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        elapsed = time.perf_counter() - started
        await client.drop_database(f"engine_{run}")
    finally:
        await client.close()
    every = [ms for kind in latencies.values() for ms in kind]
    out = {"all": {**summary(every), "ops_per_s": round(len(every) / elapsed, 1)}}
    out.update({kind: summary(values) for kind, values in latencies.items() if values})
    return out


async def engine_backends(
    documents: int = 20000, clients: int = 16, seconds: float = 30
) -> dict[str, Any]:
    """The mixed load on SQLite and on PostgreSQL, one binary, private servers."""
    results: dict[str, Any] = {"documents": documents, "clients": clients, "seconds": seconds}
    for step, name in enumerate(("sqlite", "postgresql")):
        progress("FerretDB backends, mixed load", step, 2)
        with ferretdb(27900 + 100 * step, HALCYON_MONGO_BACKEND=name) as url:
            results[name] = await mixed_load(url, documents, clients, seconds)
    progress("FerretDB backends, mixed load", 2, 2)
    results["ops_per_s_ratio_postgresql_vs_sqlite"] = round(
        results["postgresql"]["all"]["ops_per_s"] / results["sqlite"]["all"]["ops_per_s"], 2
    )
    return results
