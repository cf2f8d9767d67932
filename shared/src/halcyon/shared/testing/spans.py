"""Reading spans that processes wrote as JSON lines (HALCYON_SPAN_FILE)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trace_tree(spans: list[dict[str, Any]], trace_id: str) -> str:
    """An indented tree of one trace: ``service: span name``."""
    mine = [s for s in spans if s["trace_id"] == trace_id]
    children: dict[str | None, list[dict[str, Any]]] = {}
    ids = {s["span_id"] for s in mine}
    for span in sorted(mine, key=lambda s: s["start"]):
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            ms = (span["end"] - span["start"]) / 1e6 if span["end"] else 0
            lines.append(f"{'  ' * depth}{span['service']}: {span['name']} ({ms:.1f} ms)")
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``python -m halcyon.shared.testing.spans FILE [TRACE_ID]``: print a trace as a tree.

    Without a trace id it shows the most recent trace that crossed more than one service.
    """
    if not argv:
        print("usage: spans FILE [TRACE_ID]")
        return 2
    spans = read_spans(Path(argv[0]))
    if not spans:
        print(f"no spans in {argv[0]} (is HALCYON_SPAN_FILE set for the services?)")
        return 1
    if len(argv) > 1:
        trace_id = argv[1]
    else:
        services: dict[str, set[str]] = {}
        last_seen: dict[str, int] = {}
        for span in spans:
            services.setdefault(span["trace_id"], set()).add(span["service"])
            last_seen[span["trace_id"]] = max(last_seen.get(span["trace_id"], 0), span["start"])
        crossing = [t for t, s in services.items() if len(s) > 1] or list(services)
        trace_id = max(crossing, key=lambda t: last_seen[t])
    print(f"trace {trace_id}")
    print(trace_tree(spans, trace_id))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
