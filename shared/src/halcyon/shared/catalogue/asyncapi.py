"""The AsyncAPI document, written by faststream's generator from the contracts, with the
examples and deprecation faststream cannot attach added afterwards.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from halcyon.shared.catalogue.about import (
    DELIVERY,
    VERSION,
    deprecation_notice,
    description,
    ordered_contracts,
    summary,
)
from halcyon.shared.catalogue.examples import example_envelope
from halcyon.shared.contracts import EventContract, all_contracts
from halcyon.shared.envelope import EventEnvelope
from pydantic import BaseModel, create_model


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
