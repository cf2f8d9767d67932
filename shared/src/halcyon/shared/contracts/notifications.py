"""Events the notifications service publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from halcyon.shared.contracts import EventContract


class DeliveryStatusChanged(EventContract):
    """A notification (email, SMS or in-app message) was queued, sent, delivered, failed
    or given up on. Carries who it was for, never its content."""

    event_type = "halcyon.notifications.delivery.status_changed.v1"
    topic = "notifications.delivery.v1"
    subject_field = "delivery_id"
    example: ClassVar[dict[str, Any]] = {
        "delivery_id": "019cafa7-6870-7b4a-b9d5-b65a14849e88",
        "channel": "sms",
        "status": "delivered",
        "recipient_kind": "client",
        "recipient_id": "019a4fa3-d7a8-7948-a603-f61dc036b5c5",
        "at": "2026-03-02T17:45:10Z",
    }

    delivery_id: str
    channel: str  # email | sms | inbox
    status: str  # queued | sent | delivered | failed | dead
    recipient_kind: str  # client | staff
    recipient_id: str
    at: datetime
