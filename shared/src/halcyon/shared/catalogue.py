"""The event catalogue: an AsyncAPI document generated from the contract models.

Every contract in :mod:`halcyon.shared.contracts` is registered as a publisher on a
(never connected) faststream ``KafkaBroker`` with the full envelope as its payload
schema, and faststream's AsyncAPI generator writes the document. ``python -m
halcyon.shared.catalogue docs/`` refreshes ``docs/asyncapi.json`` and ``docs/events.md``.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any, Literal

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from halcyon.shared.contracts import EventContract, all_contracts
from halcyon.shared.envelope import EventEnvelope
from pydantic import BaseModel, create_model

VERSION = "1.0.0"


def envelope_model(contract: type[EventContract]) -> type[BaseModel]:
    """The envelope as it is on the wire, with ``data`` typed as this contract."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in EventEnvelope.model_fields.items()
    }
    fields["type"] = (Literal[contract.event_type], ...)  # type: ignore[valid-type]
    fields["dataschema"] = (Literal[contract.schema_uri()], ...)  # type: ignore[valid-type]
    fields["data"] = (contract, ...)
    return create_model(f"{contract.__name__}Event", **fields)


def build_asyncapi() -> dict[str, Any]:
    broker = KafkaBroker("kafka:9092", description="Halcyon's Kafka (KRaft)")
    for event_type, contract in sorted(all_contracts().items()):
        broker.publisher(
            contract.topic,
            title=f"{contract.topic}:{event_type}",
            description=inspect.getdoc(contract) or event_type,
            schema=envelope_model(contract),
        )
    spec = AsyncAPI(
        broker,
        title="Halcyon events",
        version=VERSION,
        description=(
            "Every event is a CloudEvents 1.0 JSON envelope (plus tenantid, correlationid, "
            "causationid); the Kafka key is the envelope's subject (the aggregate id), so one "
            "aggregate's events stay in order. Delivery is at least once: drop duplicates by id."
        ),
    ).to_specification()
    document: dict[str, Any] = json.loads(spec.to_json())
    return document


def payload_schema(document: dict[str, Any], event_type: str) -> dict[str, Any]:
    """One event type's envelope schema from an AsyncAPI document, with the document's
    components alongside so its references resolve (for jsonschema validation)."""
    contract = all_contracts()[event_type]
    channel = document["channels"][f"{contract.topic}:{event_type}"]
    message_ref = channel["messages"]["Message"]["$ref"].split("/")[-1]
    payload_ref = document["components"]["messages"][message_ref]["payload"]["$ref"]
    schema = document["components"]["schemas"][payload_ref.split("/")[-1]]
    return {**schema, "components": document["components"]}


def catalogue_markdown() -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated from `halcyon.shared.contracts` by `python -m halcyon.shared.catalogue docs`;",
        "the machine-readable version is `docs/asyncapi.json` (AsyncAPI 3.0). Every message is",
        "a CloudEvents envelope whose `data` is the contract below; the Kafka key is `subject`.",
        "",
        "| topic | type | subject | fields |",
        "|---|---|---|---|",
    ]
    for event_type, contract in sorted(
        all_contracts().items(), key=lambda kv: (kv[1].topic, kv[0])
    ):
        fields = ", ".join(
            f"`{n}`" + ("" if f.is_required() else "?") for n, f in contract.model_fields.items()
        )
        lines.append(
            f"| `{contract.topic}` | `{event_type}` | `{contract.subject_field}` | {fields} |"
        )
    lines += [
        "",
        "Versioning: adding an optional field keeps `v1`. A breaking change is a new contract",
        "`….v2` on topic `<aggregate>.v2`, published alongside v1 for a deprecation period.",
        "",
    ]
    for event_type, contract in sorted(all_contracts().items()):
        lines += [f"## `{event_type}`", "", inspect.getdoc(contract) or "", ""]
    return "\n".join(lines)


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "asyncapi.json").write_text(json.dumps(build_asyncapi(), indent=2) + "\n")
    (directory / "events.md").write_text(catalogue_markdown())


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
