"""The contract fields as rows for people: names, types and descriptions, nested models
flattened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from halcyon.shared.contracts import EventContract


@dataclass(frozen=True)
class FieldRow:
    name: str  # dotted for nested objects: "address.city", "clinicians[].staff_id"
    type: str
    required: bool
    description: str


def _ref_name(schema: dict[str, Any]) -> str:
    return str(schema["$ref"]).split("/")[-1]


def type_label(schema: dict[str, Any], *, names: bool = True) -> str:
    """A JSON Schema as a short type a reader understands: ``string (date) or null``."""
    if "$ref" in schema:
        return _ref_name(schema) if names else "object"
    if "anyOf" in schema:
        options = schema["anyOf"]
        labels = [type_label(o, names=names) for o in options if o.get("type") != "null"]
        nullable = any(o.get("type") == "null" for o in options)
        return " or ".join(labels + (["null"] if nullable else []))
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {type_label(schema.get('items', {}), names=names)}"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            return f"map of string to {type_label(values, names=names)}"
        return "object"
    if "const" in schema and names:  # values are compared on their own (_enum_values)
        return f"{kind} = {json.dumps(schema['const'])}"
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def nested_fields(
    schema: dict[str, Any], defs: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The object schemas inside a field, with the suffix their fields are named after."""
    if "$ref" in schema:
        yield "", defs[_ref_name(schema)]
    for option in schema.get("anyOf", []):
        yield from nested_fields(option, defs)
    if schema.get("type") == "array":
        for suffix, inner in nested_fields(schema.get("items", {}), defs):
            yield f"[]{suffix}", inner
    if schema.get("type") == "object" and "properties" in schema:
        yield "", schema


def field_rows(contract: type[EventContract]) -> list[FieldRow]:
    schema = contract.model_json_schema()
    defs = schema.get("$defs", {})
    rows: list[FieldRow] = []

    def walk(obj: dict[str, Any], prefix: str, seen: frozenset[str]) -> None:
        required = set(obj.get("required", []))
        for name, prop in obj.get("properties", {}).items():
            rows.append(
                FieldRow(
                    f"{prefix}{name}",
                    type_label(prop),
                    name in required,
                    prop.get("description", ""),
                )
            )
            for suffix, inner in nested_fields(prop, defs):
                title = inner.get("title", "")
                if title not in seen:  # a recursive model is listed once
                    walk(inner, f"{prefix}{name}{suffix}.", seen | {title})

    walk(schema, "", frozenset())
    return rows
