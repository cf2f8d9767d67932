"""Public event contracts: the one place every event's shape is defined.

A contract is a pydantic model with its CloudEvents ``type`` and its topic.
Producers and consumers import the same class, partners read the AsyncAPI
document generated from these models. Adding an optional field keeps the
version; anything breaking is a new class with ``.v2`` published alongside.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

_REGISTRY: dict[str, type[EventContract]] = {}


class UnknownEventType(LookupError):
    pass


class EventContract(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[str]
    # Name of the field holding the aggregate id (the Kafka key, so its events stay ordered).
    subject_field: ClassVar[str]
    # A realistic ``data`` payload, shown to partners in the AsyncAPI document and the
    # catalogue page; a test validates it against the contract and the published schema.
    example: ClassVar[dict[str, Any]] = {}
    # Set on a version being replaced: the ISO date after which it is no longer published.
    deprecated_after: ClassVar[str | None] = None
    # The service that publishes it, when the type's context does not say (partner feeds).
    published_by: ClassVar[str | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        event_type = cls.__dict__.get("event_type")
        if event_type:
            if event_type in _REGISTRY and _REGISTRY[event_type] is not cls:
                raise TypeError(f"event type {event_type} is defined twice")
            _REGISTRY[event_type] = cls

    def subject(self) -> str:
        return str(getattr(self, self.subject_field))

    @classmethod
    def schema_uri(cls) -> str:
        return f"urn:halcyon:schema:{cls.event_type}"


def contract_for(event_type: str) -> type[EventContract]:
    try:
        return _REGISTRY[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def all_contracts() -> dict[str, type[EventContract]]:
    return dict(_REGISTRY)


# Import the per-context modules so the registry is complete once this package loads.
from halcyon.shared.contracts import billing as billing  # noqa: E402
from halcyon.shared.contracts import clinical as clinical  # noqa: E402
from halcyon.shared.contracts import identity as identity  # noqa: E402
from halcyon.shared.contracts import inventory as inventory  # noqa: E402
from halcyon.shared.contracts import notifications as notifications  # noqa: E402
from halcyon.shared.contracts import partner as partner  # noqa: E402
from halcyon.shared.contracts import scheduling as scheduling  # noqa: E402
