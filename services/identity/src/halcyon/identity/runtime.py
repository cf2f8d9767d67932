"""Identity's running service, typed: its settings, its parts, and what emits events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeAlias

from halcyon.identity.keys import SigningKeys
from halcyon.identity.settings import IdentitySettings
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.events import EventSource
from halcyon.shared.service import ServiceRuntime, ServiceWiring

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class IdentityParts:
    """Identity's long-lived parts, built once the repositories exist (``app.py``)."""

    # Seals TOTP secrets, signing keys' private halves and credential files.
    cipher: FieldCipher
    # The key table that signs every access token (and verifies identity's own).
    keys: SigningKeys
    # What "now" is for sign-in, lockout and tokens (a test may pin it).
    clock: Clock = field(default=utcnow)


IdentityRuntime: TypeAlias = ServiceRuntime[IdentitySettings, IdentityParts]
IdentityWiring: TypeAlias = ServiceWiring[IdentitySettings, IdentityParts]


# What a use case needs to emit: the runtime (this service as the source).
Events: TypeAlias = EventSource
