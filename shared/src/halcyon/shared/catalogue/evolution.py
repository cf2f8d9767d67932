"""Schema evolution: published schema snapshots, and the breaking changes a new schema
would make for v1 consumers; writing the documents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from halcyon.shared.catalogue.about import ordered_contracts, version_of
from halcyon.shared.catalogue.fields import nested_fields, type_label
from halcyon.shared.contracts import EventContract

V2_ADVICE = "publish a .v2 contract alongside"


def published_schema(contract: type[EventContract]) -> dict[str, Any]:
    """What is snapshotted: the ``data`` schema a v1 consumer was written against."""
    return contract.model_json_schema()


def snapshot_path(directory: Path, event_type: str) -> Path:
    return directory / "schemas" / f"{event_type}.json"


def breaking_changes(
    published: dict[str, Any], current: dict[str, Any], *, event_type: str = ""
) -> list[str]:
    """What a consumer written against ``published`` would break on in ``current``: a
    removed field, a new required field, an optional field made required, a changed
    type (nested objects included). New optional fields and changed titles, defaults
    or descriptions are fine."""
    problems: list[str] = []
    old_defs, new_defs = published.get("$defs", {}), current.get("$defs", {})
    label = f"{event_type}: " if event_type else ""
    advice = V2_ADVICE
    if event_type:
        advice = advice.replace(".v2", f".v{version_of(event_type)[1] + 1}")

    def breaks(path: str, what: str) -> None:
        problems.append(f"{label}field `{path}` {what}; {advice} instead")

    def compare(old: dict[str, Any], new: dict[str, Any], prefix: str) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name, old_prop in old_props.items():
            path = f"{prefix}{name}"
            if name not in new_props:
                breaks(path, "was removed (v1 consumers read it)")
                continue
            new_prop = new_props[name]
            if name in new_required and name not in old_required:
                breaks(path, "became required (v1 producers and replays may omit it)")
            was, now = type_label(old_prop, names=False), type_label(new_prop, names=False)
            if was != now:
                breaks(path, f"changed type from {was} to {now}")
                continue
            old_values, new_values = _enum_values(old_prop), _enum_values(new_prop)
            if old_values is not None and (new_values is None or new_values - old_values):
                unknown = sorted(new_values - old_values) if new_values else "any value"
                breaks(path, f"now takes values v1 consumers do not know ({unknown})")
            for (suffix, old_inner), (_, new_inner) in zip(
                nested_fields(old_prop, old_defs), nested_fields(new_prop, new_defs), strict=False
            ):
                compare(old_inner, new_inner, f"{path}{suffix}.")
        for name in new_props.keys() - old_props.keys():
            if name in new_required:
                breaks(f"{prefix}{name}", "was added as required (v1 events lack it)")

    compare(published, current, "")
    return problems


def _enum_values(schema: dict[str, Any]) -> set[Any] | None:
    """The values an enumerated field may take, or None if it is not enumerated."""
    if "enum" in schema:
        return set(schema["enum"])
    if "const" in schema:
        return {schema["const"]}
    options = [_enum_values(o) for o in schema.get("anyOf", []) if o.get("type") != "null"]
    if options and all(o is not None for o in options):
        return set().union(*(o for o in options if o is not None))
    return None


def snapshot(directory: Path) -> list[Path]:
    """Write the schema of every contract that has no snapshot yet. Never overwrites:
    a snapshot is what was published, and consumers were written against it."""
    written = []
    for contract in ordered_contracts():
        path = snapshot_path(directory, contract.event_type)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(published_schema(contract), indent=2, sort_keys=True)
            path.write_text(text + "\n")
            written.append(path)
    return written
