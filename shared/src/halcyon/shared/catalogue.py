"""The event catalogue: an AsyncAPI document, a Markdown page and an HTML page, all
generated from the contract models, plus the schema snapshots that guard v1 consumers.

Every contract in :mod:`halcyon.shared.contracts` is registered as a publisher on a
(never connected) faststream ``KafkaBroker`` with the full envelope as its payload
schema, and faststream's AsyncAPI generator writes the document. faststream cannot
attach message examples or deprecation, so :func:`build_asyncapi` adds them afterwards.

``python -m halcyon.shared.catalogue docs`` refreshes ``docs/asyncapi.json`` and
``docs/events.md`` and adds a schema snapshot for any contract without one;
``python -m halcyon.shared.catalogue snapshot docs`` only adds the missing snapshots.
"""

from __future__ import annotations

import hashlib
import html
import inspect
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from halcyon.shared.contracts import EventContract, all_contracts
from halcyon.shared.envelope import EventEnvelope
from pydantic import BaseModel, create_model

VERSION = "1.0.0"
PARTNER_TOPIC_PREFIX = "partner."

# The example envelopes are regenerated on every build and compared with the committed
# document, so their id, time and tenant are fixed rather than drawn at random.
EXAMPLE_PUBLISHED_AT = datetime(2026, 3, 2, 17, 45, 12, 318000, tzinfo=UTC)
EXAMPLE_TENANT = "agency-cedar-ridge"
# Audit events come from every service and partner reports from the service that owns the
# fact; other events come from the service named in their type.
_EXAMPLE_SOURCES = {"audit": "/halcyon/clinical"}  # every service audits; one example

DELIVERY = (
    "Every event is a CloudEvents 1.0 JSON envelope (plus tenantid, correlationid, "
    "causationid); the Kafka key is the envelope's subject (the aggregate id), so one "
    "aggregate's events stay in order. Delivery is at least once: drop duplicates by id."
)


# -- what is said about a contract -----------------------------------------------------


def description(contract: type[EventContract]) -> str:
    """The contract's own docstring: an undocumented class would otherwise inherit
    pydantic's BaseModel docstring, which says nothing about the event."""
    return inspect.cleandoc(contract.__dict__.get("__doc__") or "")


def summary(contract: type[EventContract]) -> str:
    """The first paragraph of the docstring, on one line."""
    first = description(contract).split("\n\n", 1)[0]
    return " ".join(first.split()) or contract.event_type


def is_partner(contract: type[EventContract]) -> bool:
    return contract.topic.startswith(PARTNER_TOPIC_PREFIX)


def _version(event_type: str) -> tuple[str, int]:
    family, _, version = event_type.rpartition(".v")
    return family, int(version)


def successor(contract: type[EventContract]) -> type[EventContract] | None:
    """The newest later version of the same event, if one is published."""
    family, version = _version(contract.event_type)
    later = [
        (v, c)
        for t, c in all_contracts().items()
        for f, v in [_version(t)]
        if f == family and v > version
    ]
    return max(later, key=lambda vc: vc[0])[1] if later else None


def deprecation_notice(contract: type[EventContract]) -> str | None:
    if contract.deprecated_after is None:
        return None
    replacement = successor(contract)
    use = f"use `{replacement.event_type}`" if replacement else "a newer version replaces it"
    return f"Deprecated, published until {contract.deprecated_after}, {use}."


def ordered_contracts() -> list[type[EventContract]]:
    """Partner topics first (that is who reads the catalogue), then internal ones."""
    return sorted(
        all_contracts().values(), key=lambda c: (not is_partner(c), c.topic, c.event_type)
    )


# -- example envelopes -----------------------------------------------------------------


def _fixed_uuid7(seed: str, at: datetime) -> str:
    """A UUIDv7 for ``at`` whose random bits come from ``seed``: it looks like the ids
    on the wire but is the same on every build."""
    millis = int(at.timestamp() * 1000)
    bits = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big")
    rand_a, rand_b = bits >> 68, bits & ((1 << 62) - 1)
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    hexed = f"{value:032x}"
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def example_envelope(contract: type[EventContract]) -> dict[str, Any]:
    """The contract's example as the whole envelope on the wire (JSON-ready)."""
    data = contract.model_validate(contract.example)
    context = contract.event_type.split(".")[1]
    request_at = EXAMPLE_PUBLISHED_AT - timedelta(milliseconds=240)
    envelope = EventEnvelope(
        id=_fixed_uuid7(contract.event_type, EXAMPLE_PUBLISHED_AT),
        source=(
            f"/halcyon/{contract.published_by}"
            if contract.published_by
            else _EXAMPLE_SOURCES.get(context, f"/halcyon/{context}")
        ),
        type=contract.event_type,
        subject=data.subject(),
        time=EXAMPLE_PUBLISHED_AT,
        dataschema=contract.schema_uri(),
        tenantid=EXAMPLE_TENANT,
        correlationid=_fixed_uuid7(f"{contract.event_type}#request", request_at),
        data=data.model_dump(mode="json"),
    )
    wire: dict[str, Any] = json.loads(envelope.model_dump_json())
    return wire


# -- AsyncAPI --------------------------------------------------------------------------


def envelope_model(contract: type[EventContract]) -> type[BaseModel]:
    """The envelope as it is on the wire, with ``data`` typed as this contract."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in EventEnvelope.model_fields.items()
    }
    fields["type"] = (Literal[contract.event_type], ...)
    fields["dataschema"] = (Literal[contract.schema_uri()], ...)
    fields["data"] = (contract, ...)
    return create_model(f"{contract.__name__}Event", **fields)


def _channel_key(contract: type[EventContract]) -> str:
    return f"{contract.topic}:{contract.event_type}"


def _describe(contract: type[EventContract]) -> str:
    notice = deprecation_notice(contract)
    return f"{notice}\n\n{description(contract)}" if notice else description(contract)


def build_asyncapi() -> dict[str, Any]:
    broker = KafkaBroker("kafka:9092", description="Halcyon's Kafka (KRaft)")
    for contract in ordered_contracts():
        broker.publisher(
            contract.topic,
            title=_channel_key(contract),
            description=_describe(contract) or contract.event_type,
            schema=envelope_model(contract),
        )
    spec = AsyncAPI(
        broker, title="Halcyon events", version=VERSION, description=DELIVERY
    ).to_specification()
    document: dict[str, Any] = json.loads(spec.to_json())
    for contract in ordered_contracts():
        _annotate(document, contract)
    return _in_reading_order(document)


def _in_reading_order(document: dict[str, Any]) -> dict[str, Any]:
    """faststream's channel order varies between runs; fix it (partner topics first) so
    the committed file only changes when the catalogue does."""
    rank = {_channel_key(c): i for i, c in enumerate(ordered_contracts())}
    document["channels"] = dict(sorted(document["channels"].items(), key=lambda kv: rank[kv[0]]))
    document["operations"] = dict(
        sorted(
            document.get("operations", {}).items(),
            key=lambda kv: (rank.get(kv[1]["channel"]["$ref"].split("/")[-1], len(rank)), kv[0]),
        )
    )
    for section in ("messages", "schemas"):
        document["components"][section] = dict(sorted(document["components"][section].items()))
    return document


def _annotate(document: dict[str, Any], contract: type[EventContract]) -> None:
    """What faststream (0.7) cannot emit: examples, the envelope's real correlation id,
    and the deprecation marker. AsyncAPI 3.0 has no ``deprecated`` on channels, messages
    or operations, so they carry an ``x-deprecated-after`` extension and the payload
    schema JSON Schema's ``deprecated``."""
    key = _channel_key(contract)
    channel = document["channels"][key]
    message = _message(document, contract)
    message.update(
        {
            "name": contract.__name__,
            "summary": summary(contract),
            "description": _describe(contract),
            "contentType": "application/json",
            # Our correlation id travels in the envelope, not in a Kafka header.
            "correlationId": {
                "description": "Shared by every event one request caused",
                "location": "$message.payload#/correlationid",
            },
            "examples": [
                {
                    "name": f"{contract.__name__}Example",
                    "summary": f"A {contract.event_type} envelope as read from {contract.topic}",
                    "payload": example_envelope(contract),
                }
            ],
        }
    )
    if contract.deprecated_after is not None:
        marker = {"x-deprecated-after": contract.deprecated_after}
        channel.update(marker)
        message.update(marker)
        for operation in document.get("operations", {}).values():
            if operation["channel"]["$ref"] == f"#/channels/{key}":
                operation.update(marker)
        _envelope_schema(document, message)["deprecated"] = True


def _message(document: dict[str, Any], contract: type[EventContract]) -> dict[str, Any]:
    channel = document["channels"][_channel_key(contract)]
    message_ref = channel["messages"]["Message"]["$ref"].split("/")[-1]
    message: dict[str, Any] = document["components"]["messages"][message_ref]
    return message


def _envelope_schema(document: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][
        message["payload"]["$ref"].split("/")[-1]
    ]
    return schema


def payload_schema(document: dict[str, Any], event_type: str) -> dict[str, Any]:
    """One event type's envelope schema from an AsyncAPI document, with the document's
    components alongside so its references resolve (for jsonschema validation)."""
    message = _message(document, all_contracts()[event_type])
    return {**_envelope_schema(document, message), "components": document["components"]}


def message_examples(document: dict[str, Any], event_type: str) -> list[dict[str, Any]]:
    examples: list[dict[str, Any]] = _message(document, all_contracts()[event_type]).get(
        "examples", []
    )
    return examples


# -- fields, for people ----------------------------------------------------------------


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


def _nested(schema: dict[str, Any], defs: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The object schemas inside a field, with the suffix their fields are named after."""
    if "$ref" in schema:
        yield "", defs[_ref_name(schema)]
    for option in schema.get("anyOf", []):
        yield from _nested(option, defs)
    if schema.get("type") == "array":
        for suffix, inner in _nested(schema.get("items", {}), defs):
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
            for suffix, inner in _nested(prop, defs):
                title = inner.get("title", "")
                if title not in seen:  # a recursive model is listed once
                    walk(inner, f"{prefix}{name}{suffix}.", seen | {title})

    walk(schema, "", frozenset())
    return rows


# -- Markdown and HTML pages ------------------------------------------------------------


def _example_json(contract: type[EventContract]) -> str:
    return json.dumps(example_envelope(contract), indent=2)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue_markdown() -> str:
    contracts = ordered_contracts()
    lines = [
        "# Event catalogue",
        "",
        "Generated from `halcyon.shared.contracts` by `python -m halcyon.shared.catalogue docs`;",
        "the machine-readable version is `docs/asyncapi.json` (AsyncAPI 3.0), and the gateway",
        "serves this catalogue as a page at `/events`. Every message is a CloudEvents",
        "envelope whose `data` is the contract below; the Kafka key is `subject`.",
        "Partners read only `partner.*` topics (listed first).",
        "",
        "| topic | type | key (subject) | fields |",
        "|---|---|---|---|",
    ]
    for contract in contracts:
        fields = ", ".join(
            f"`{n}`" + ("" if f.is_required() else "?") for n, f in contract.model_fields.items()
        )
        deprecated = " (deprecated)" if contract.deprecated_after else ""
        lines.append(
            f"| `{contract.topic}` | `{contract.event_type}`{deprecated} "
            f"| `{contract.subject_field}` | {fields} |"
        )
    lines += [
        "",
        "Versioning: adding an optional field keeps `v1`. A breaking change is a new contract",
        "`….v2` on topic `<aggregate>.v2`, published alongside v1 for a deprecation period;",
        "`docs/schemas/` holds the published schema of every contract, and a test refuses a",
        "change a v1 consumer would break on.",
        "",
    ]
    for heading, group in (
        ("For partners", [c for c in contracts if is_partner(c)]),
        ("Internal topics", [c for c in contracts if not is_partner(c)]),
    ):
        lines += [f"# {heading}", ""]
        for contract in group:
            lines += _markdown_section(contract)
    return "\n".join(lines)


def _markdown_section(contract: type[EventContract]) -> list[str]:
    lines = [f"## `{contract.event_type}`", ""]
    notice = deprecation_notice(contract)
    if notice:
        lines += [f"**{notice}**", ""]
    lines += [
        description(contract),
        "",
        f"Topic `{contract.topic}`, key `{contract.subject_field}`.",
        "",
        "| field | type | required | description |",
        "|---|---|---|---|",
    ]
    for row in field_rows(contract):
        lines.append(
            f"| `{row.name}` | {_md_cell(row.type)} | {'yes' if row.required else 'no'} "
            f"| {_md_cell(row.description)} |"
        )
    lines += [
        "",
        "Example (the whole envelope):",
        "",
        "```json",
        _example_json(contract),
        "```",
        "",
    ]
    return lines


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 4rem}
h1{margin:.2rem 0}h2{margin-top:2.5rem;border-bottom:2px solid #d6dbe3;padding-bottom:.3rem}
section.event{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:1rem 1.4rem;
margin:1.2rem 0}
section.event h3{margin:.2rem 0 .6rem;font-family:ui-monospace,Menlo,monospace;font-size:1.05rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.6rem 0}
dt{color:#5a6475}dd{margin:0;font-family:ui-monospace,Menlo,monospace}
table{border-collapse:collapse;width:100%;margin:.8rem 0;font-size:.92rem}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #e6e9ef;vertical-align:top}
th{background:#f0f2f5}td.name,td.type{font-family:ui-monospace,Menlo,monospace}
pre{background:#1d2330;color:#e8ecf3;padding:.9rem;border-radius:6px;overflow-x:auto;
font-size:.85rem}
.deprecated{background:#fff4e5;border-left:4px solid #e08a00;padding:.5rem .8rem}
.lead{color:#3b4452}nav ul{columns:2}code{font-family:ui-monospace,Menlo,monospace}
"""


def catalogue_html() -> str:
    """The catalogue as one self-contained page (no scripts, no external assets)."""
    e = html.escape
    contracts = ordered_contracts()
    groups = (
        (
            "partners",
            "For partners",
            "Topics a partner may be granted (SASL/SCRAM, read-only, per audience).",
            [c for c in contracts if is_partner(c)],
        ),
        (
            "internal",
            "Internal topics",
            "Topics between Halcyon's services; no partner is granted them.",
            [c for c in contracts if not is_partner(c)],
        ),
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Halcyon event catalogue {e(VERSION)}</title><style>{_CSS}</style></head>",
        "<body><main>",
        "<h1>Halcyon event catalogue</h1>",
        f'<p class="lead">{e(DELIVERY)}</p>',
        '<p>Machine-readable: <a href="/asyncapi.json">/asyncapi.json</a> (AsyncAPI 3.0); '
        'as Markdown: <a href="/events.md">/events.md</a>. Adding an optional field keeps '
        "the version; a breaking change is a new <code>.v2</code> contract published "
        "alongside the old one until its deprecation date.</p>",
        "<nav>",
    ]
    for anchor, heading, _, group in groups:
        parts.append(f'<h2><a href="#{anchor}">{e(heading)}</a></h2><ul>')
        parts += [
            f'<li><a href="#{e(c.event_type)}"><code>{e(c.event_type)}</code></a></li>'
            for c in group
        ]
        parts.append("</ul>")
    parts.append("</nav>")
    for anchor, heading, intro, group in groups:
        parts += [f'<h2 id="{anchor}">{e(heading)}</h2>', f"<p>{e(intro)}</p>"]
        parts += [_html_section(c) for c in group]
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _html_section(contract: type[EventContract]) -> str:
    e = html.escape
    notice = deprecation_notice(contract)
    paragraphs = [p for p in description(contract).split("\n\n") if p.strip()]
    rows = "".join(
        f'<tr><td class="name">{e(r.name)}</td><td class="type">{e(r.type)}</td>'
        f"<td>{'yes' if r.required else 'no'}</td><td>{e(r.description)}</td></tr>"
        for r in field_rows(contract)
    )
    return "".join(
        [
            f'<section class="event" id="{e(contract.event_type)}">',
            f"<h3>{e(contract.event_type)}</h3>",
            f'<p class="deprecated">{e(notice.replace("`", ""))}</p>' if notice else "",
            "".join(f"<p>{e(' '.join(p.split()))}</p>" for p in paragraphs),
            "<dl>",
            f"<dt>type</dt><dd>{e(contract.event_type)}</dd>",
            f"<dt>topic</dt><dd>{e(contract.topic)}</dd>",
            f"<dt>key</dt><dd>{e(contract.subject_field)} (the envelope's subject)</dd>",
            f"<dt>schema</dt><dd>{e(contract.schema_uri())}</dd>",
            "</dl>",
            "<table><thead><tr><th>field</th><th>type</th><th>required</th>"
            f"<th>description</th></tr></thead><tbody>{rows}</tbody></table>",
            "<p>Example envelope:</p>",
            f"<pre><code>{e(_example_json(contract))}</code></pre>",
            "</section>",
        ]
    )


# -- schema evolution ------------------------------------------------------------------

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
        advice = advice.replace(".v2", f".v{_version(event_type)[1] + 1}")

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
                _nested(old_prop, old_defs), _nested(new_prop, new_defs), strict=False
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


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "asyncapi.json").write_text(json.dumps(build_asyncapi(), indent=2) + "\n")
    (directory / "events.md").write_text(catalogue_markdown())
    snapshot(directory)


def main(argv: list[str]) -> None:
    if argv[:1] == ["snapshot"]:
        for path in snapshot(Path(argv[1] if len(argv) > 1 else "docs")):
            print(f"snapshot added: {path}")
        return
    write(Path(argv[0] if argv else "docs"))


if __name__ == "__main__":
    main(sys.argv[1:])
