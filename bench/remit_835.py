"""`remit_835_ingest`: billing's 835 ingest (strict read + posting plan) on a ~10 MB file vs a
plain parse of the same bytes (decode, split segments and elements). Standalone: no servers.

The ingest measured is everything billing does before its first write (ADR 0604: the whole
file is read and planned first, off the event loop); the writes themselves depend on the
database and are not part of it. Time is the best of ``rounds`` (without tracemalloc, which
slows allocation); peak memory is tracemalloc's peak above what was allocated before, in one
more run (the file's bytes are not counted in either).

`python -m bench.remit_835 [--megabytes 10]` runs it alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from halcyon.billing.domain.posting import plan_posting
from halcyon.billing.domain.remittance import read_835

CLAIMS_PER_TRANSACTION = 1000


def isa(control: str) -> str:
    return (
        f"ISA*00*{'':10}*00*{'':10}*ZZ*{'BENCHPAYER':<15}*ZZ*{'HALCYON':<15}"
        f"*261130*1200*^*00501*{control}*0*P*:~"
    )


def claim_payment(number: int) -> list[str]:
    """One paid claim with two service lines, contractual and deductible adjustments."""
    return [
        f"CLP*H{number:09d}*1*300*200*50*12*ICN{number:012d}*11*1",
        "CAS*CO*45*50",
        f"NM1*QC*1*CLIENT*NUMBER{number}****MI*M{number:09d}",
        "DTM*232*20261102",
        "SVC*HC:90837:95*200*150**1",
        "DTM*472*20261102",
        "CAS*CO*45*25",
        "CAS*PR*1*25",
        "LQ*HE*N130",
        "SVC*HC:90785*100*50**1",
        "DTM*472*20261102",
        "CAS*PR*2*25*1*CO*45*25",
    ]


def generate_835(megabytes: float = 10.0) -> bytes:
    """A valid 835 of about ``megabytes``: transactions of 1,000 claims, one PLB each."""
    target = int(megabytes * 1024 * 1024)
    segments = [
        isa("000000001").removesuffix("~"),
        "GS*HP*BENCH*HALCYON*20261130*1200*1*X*005010X221A1",
    ]
    size = sum(len(s) + 2 for s in segments)
    number = transactions = 0
    while size < target:
        transactions += 1
        body = [
            f"BPR*I*{CLAIMS_PER_TRANSACTION * 200 - 5}*C*ACH*CCP*01*999999999*DA*123456"
            "*1512345678**01*999988880*DA*98765*20261130",
            f"TRN*1*EFT{transactions:08d}*1512345678",
            "DTM*405*20261130",
            "N1*PR*BENCH HEALTH*XV*BENCH1",
            "N1*PE*HALCYON CLINIC*XX*1234567893",
            "LX*1",
        ]
        for _ in range(CLAIMS_PER_TRANSACTION):
            number += 1
            body += claim_payment(number)
        body.append(f"PLB*1234567893*20261231*WO:OVP{transactions}*5")
        st02 = f"{transactions:04d}"
        block = [f"ST*835*{st02}", *body, f"SE*{len(body) + 2}*{st02}"]
        segments += block
        size += sum(len(s) + 2 for s in block)
    segments += [f"GE*{transactions}*1", "IEA*1*000000001"]
    return "".join(f"{s}~\n" for s in segments).encode()


def plain_parse(raw: bytes) -> list[list[str]]:
    """The floor: what any reader must do at least (decode, split, split)."""
    return [segment.split("*") for segment in raw.decode("utf-8").split("~")]


def ingest(raw: bytes) -> Any:
    """Billing's ingest before its first write: strict read and the whole posting plan."""
    return plan_posting("agency-1", read_835(raw), {})


def measure(work: Callable[[bytes], Any], raw: bytes, rounds: int) -> tuple[dict[str, float], Any]:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        work(raw)
        best = min(best, time.perf_counter() - started)
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    kept = work(raw)
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    return {"seconds": round(best, 3), "peak_mb": round(peak / 1024 / 1024, 1)}, kept


def remit_835_ingest(megabytes: float = 10.0, rounds: int = 2) -> dict[str, Any]:
    raw = generate_835(megabytes)
    floor, _ = measure(plain_parse, raw, rounds)
    mine, plan = measure(ingest, raw, rounds)
    return {
        "file_mb": round(len(raw) / 1024 / 1024, 2),
        "claim_payments": len(plan.claims),
        "provider_adjustments": len(plan.provider_adjustments),
        "floor_plain_parse": floor,
        "platform_read_and_plan": mine,
        "time_ratio_platform_vs_floor": round(mine["seconds"] / floor["seconds"], 2),
        "peak_memory_ratio_platform_vs_floor": round(mine["peak_mb"] / floor["peak_mb"], 2),
    }


def rows(r: dict[str, Any]) -> list[str]:
    floor, mine = r["floor_plain_parse"], r["platform_read_and_plan"]
    return [
        f"| 835 ingest ({r['file_mb']} MB, {r['claim_payments']} claim payments), s "
        f"| plain parse {floor['seconds']} | read + plan {mine['seconds']} "
        f"| {r['time_ratio_platform_vs_floor']} |",
        f"| 835 ingest ({r['file_mb']} MB), peak memory MB (tracemalloc) "
        f"| plain parse {floor['peak_mb']} | read + plan {mine['peak_mb']} "
        f"| {r['peak_memory_ratio_platform_vs_floor']} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.remit_835")
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    result = remit_835_ingest(args.megabytes, args.rounds)
    print(json.dumps(result, indent=2))
    print("\n".join(rows(result)))


if __name__ == "__main__":
    main()
