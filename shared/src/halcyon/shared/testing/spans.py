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
