"""What the catalogue says about a contract: its description, partner or internal, its
successor and deprecation, and the reading order.
"""

from __future__ import annotations

import inspect

from halcyon.shared.contracts import EventContract, all_contracts

VERSION = "1.0.0"
PARTNER_TOPIC_PREFIX = "partner."

DELIVERY = (
    "Every event is a CloudEvents 1.0 JSON envelope (plus tenantid, correlationid, "
    "causationid); the Kafka key is the envelope's subject (the aggregate id), so one "
    "aggregate's events stay in order. Delivery is at least once: drop duplicates by id."
)


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


def version_of(event_type: str) -> tuple[str, int]:
    family, _, version = event_type.rpartition(".v")
    return family, int(version)


def successor(contract: type[EventContract]) -> type[EventContract] | None:
    """The newest later version of the same event, if one is published."""
    family, version = version_of(contract.event_type)
    later = [
        (v, c)
        for t, c in all_contracts().items()
        for f, v in [version_of(t)]
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
