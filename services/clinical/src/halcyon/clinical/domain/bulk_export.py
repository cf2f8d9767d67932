"""FHIR Bulk Data ``$export`` for a whole agency: what a job asks for, how it is cut into
NDJSON files, how its progress reads, and the completion manifest (Bulk Data IG 2.0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from halcyon.clinical.domain.fhir import when
from halcyon.clinical.domain.fhir_record import CLINICAL_TYPES, Found, parse_date
from halcyon.shared.errors import RuleViolation

NDJSON = "application/fhir+ndjson"
# One stored file stays well under a document's 16 MiB: a new part starts past either.
PART_MAX_LINES = 1000
PART_MAX_BYTES = 4 * 1024 * 1024
# A worker renews its lease while it works; a job whose lease ran out is taken over.
LEASE_SECONDS = 60


@dataclass(frozen=True)
class ExportRequest:
    types: tuple[str, ...]
    since: datetime | None


def parse_request(types: str | None, since: str | None, output_format: str | None) -> ExportRequest:
    if output_format and output_format not in (NDJSON, "application/ndjson", "ndjson"):
        raise RuleViolation(f"_outputFormat {output_format!r}: only {NDJSON} is produced")
    wanted = tuple(t.strip() for t in (types or "").split(",") if t.strip()) or CLINICAL_TYPES
    unknown = sorted(set(wanted) - set(CLINICAL_TYPES))
    if unknown:
        raise RuleViolation(f"_type names types this server does not export: {unknown}")
    since_at = parse_date(since).start if since else None
    return ExportRequest(tuple(t for t in CLINICAL_TYPES if t in wanted), since_at)


def wanted(found: Found, request_types: list[str], since: datetime | None) -> bool:
    """In the requested types and, with ``_since``, changed at or after it."""
    if found.resource_type not in request_types:
        return False
    return since is None or found.changed >= since


@dataclass
class PartWriter:
    """NDJSON lines per resource type, cut into parts; ``flush`` hands over full parts."""

    lines: dict[str, list[str]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    parts: dict[str, int] = field(default_factory=dict)

    def add(self, resource: dict[str, Any]) -> None:
        line = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
        kind = str(resource["resourceType"])
        self.lines.setdefault(kind, []).append(line)
        self.sizes[kind] = self.sizes.get(kind, 0) + len(line) + 1

    def full(self, final: bool = False) -> list[tuple[str, int, list[str]]]:
        """(type, part number, lines) for every part ready to store."""
        ready = []
        for kind, lines in self.lines.items():
            if lines and (
                final or len(lines) >= PART_MAX_LINES or self.sizes[kind] >= PART_MAX_BYTES
            ):
                number = self.parts.get(kind, 0) + 1
                self.parts[kind] = number
                ready.append((kind, number, lines))
                self.lines[kind] = []
                self.sizes[kind] = 0
        return ready


def progress(done: int, total: int) -> str:
    """``X-Progress`` text: a percentage and what it counts."""
    percent = 100 if total == 0 else done * 100 // total
    return f"{percent}% ({done} of {total} clients)"


def manifest(job: dict[str, Any], files: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    return {
        "transactionTime": when(job["transaction_time"]),
        "request": job["request_url"],
        "requiresAccessToken": True,
        "output": [
            {
                "type": f["type"],
                "url": f"{base_url}/$export-file/{job['_id']}/{f['name']}",
                "count": f["count"],
            }
            for f in sorted(files, key=lambda f: (CLINICAL_TYPES.index(f["type"]), f["part"]))
        ],
        "error": [],
    }
