"""Where the slowest requests of a run spent their time, from the platform's span file.

    BENCH_SPAN_FILE=/tmp/spans.jsonl uv run python -m bench --only booking ...
    uv run python -m bench.span_tail /tmp/spans.jsonl [--service scheduling]
        [--route "POST /appointments"] [--slowest 5] [--slow-ms 3000]

Prints p50/p99 of the service's server spans for the route, the slowest requests with
every child span (Mongo commands, Kafka publishes) and its offset, and when the slow
requests started: requests that all stall at the same moment point at something shared
(a lock, the database), not at the request's own work.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.platform_bench import percentile

Span = dict[str, Any]


def duration_ms(span: Span) -> float:
    return float(span["end"] - span["start"]) / 1e6


def children_of(spans: list[Span]) -> dict[str | None, list[Span]]:
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in spans:
        children[span["parent_span_id"]].append(span)
    return children


def describe(request: Span, children: dict[str | None, list[Span]]) -> list[str]:
    lines = []
    for child in sorted(children[request["span_id"]], key=lambda s: s["start"]):
        offset = (child["start"] - request["start"]) / 1e6
        lines.append(
            f"  {offset:8.0f} ms  +{duration_ms(child):7.0f} ms  {child['kind']:<8} {child['name']}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.span_tail")
    parser.add_argument("span_file", type=Path)
    parser.add_argument("--service", default="scheduling")
    parser.add_argument("--route", default="POST /appointments")
    parser.add_argument("--slowest", type=int, default=5)
    parser.add_argument("--slow-ms", type=float, default=3000)
    args = parser.parse_args()
    with args.span_file.open(encoding="utf-8") as lines:
        spans = [json.loads(line) for line in lines if line.strip()]
    requests = sorted(
        (
            s
            for s in spans
            if s["service"] == args.service
            and s["kind"] == "SERVER"
            and s["name"].startswith(args.route)
        ),
        key=lambda s: s["start"],
    )
    if not requests:
        raise SystemExit(f"no {args.service} server spans for {args.route!r}")
    durations = [duration_ms(s) for s in requests]
    print(
        f"{len(requests)} x {args.route} on {args.service}: p50 "
        f"{percentile(durations, 50):.0f} ms, p99 {percentile(durations, 99):.0f} ms"
    )
    children = children_of(spans)
    first = requests[0]["start"]
    for request in sorted(requests, key=duration_ms)[-args.slowest :]:
        started = (request["start"] - first) / 1e9
        print(f"\n{duration_ms(request):.0f} ms, started at {started:.1f} s")
        print("\n".join(describe(request, children)))
    slow = [round((s["start"] - first) / 1e9, 1) for s in requests if duration_ms(s) > args.slow_ms]
    print(f"\n{len(slow)} requests over {args.slow_ms:.0f} ms, started at (s): {slow}")


if __name__ == "__main__":
    main()
