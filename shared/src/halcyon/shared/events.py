"""Making events: a contract enveloped with the service that emits it as its source.

The running service's ``runtime.event`` is the usual way; a use case that only needs to
emit takes an :class:`EventSource` (the runtime is one) or a :class:`MakeEvent` (its
bound ``runtime.event``), and a test or script without a running service uses
:class:`ServiceEvents`. Nobody writes a ``source`` by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from halcyon.shared.contracts import EventContract
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.mongo import OutboxEvent


class EventSource(Protocol):
    """Anything that makes outbox events of this service (the runtime)."""

    def event(
        self,
        contract: EventContract,
        *,
        tenant_id: str,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> OutboxEvent: ...


class MakeEvent(Protocol):
    """``runtime.event`` passed as a function."""

    def __call__(
        self,
        contract: EventContract,
        *,
        tenant_id: str,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> OutboxEvent: ...


@dataclass(frozen=True)
class ServiceEvents:
    """The events of the service named ``service``; the runtime delegates here."""

    service: str

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of everything the service emits."""
        return f"/halcyon/{self.service}"

    def envelope(
        self,
        contract: EventContract,
        *,
        tenant_id: str,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> EventEnvelope:
        return EventEnvelope.wrap(
            contract,
            source=self.source,
            tenant_id=tenant_id,
            causation_id=causation_id,
            correlation_id=correlation_id,
        )

    def event(
        self,
        contract: EventContract,
        *,
        tenant_id: str,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> OutboxEvent:
        """An event for the outbox: the envelope and the topic it goes to."""
        envelope = self.envelope(
            contract,
            tenant_id=tenant_id,
            causation_id=causation_id,
            correlation_id=correlation_id,
        )
        return OutboxEvent(envelope, contract.topic)
