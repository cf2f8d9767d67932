"""Delivery identity, retry schedule and status transitions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Channel = Literal["email", "sms", "inbox"]
RecipientKind = Literal["client", "staff"]

# queued -> sending -> sent -> delivered; a failed attempt goes back to queued with a
# later next_attempt_at until the last attempt, which makes it dead.
QUEUED, SENDING, SENT, DELIVERED, FAILED, DEAD = (
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "dead",
)
# Never sent on purpose: the client opted out, or the reminder it carried was withdrawn.
SUPPRESSED, WITHDRAWN = "suppressed", "withdrawn"


def delivery_id(
    cause_id: str, rule: str, recipient_kind: str, recipient_id: str, channel: str
) -> str:
    """Deterministic: the same cause (event id or reminder occurrence) for the same rule,
    recipient and channel is always the same delivery, so a redelivered event or a
    scheduler crash can never send twice (the id is the document's unique ``_id``)."""
    raw = "|".join([cause_id, rule, recipient_kind, recipient_id, channel])
    return "dlv_" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def retry_delay(attempt: int, base_seconds: float, cap_seconds: float = 3600.0) -> timedelta:
    """Exponential backoff after the ``attempt``-th failure (1-based): base, 2·base, 4·base…"""
    return timedelta(seconds=min(cap_seconds, base_seconds * (2 ** max(0, attempt - 1))))


@dataclass(frozen=True)
class FailureOutcome:
    status: str  # queued (retry later) or dead
    attempts: int
    next_attempt_at: datetime | None


def after_failure(
    attempts_before: int, max_attempts: int, now: datetime, base_seconds: float
) -> FailureOutcome:
    attempts = attempts_before + 1
    if attempts >= max_attempts:
        return FailureOutcome(DEAD, attempts, None)
    return FailureOutcome(QUEUED, attempts, now + retry_delay(attempts, base_seconds))
