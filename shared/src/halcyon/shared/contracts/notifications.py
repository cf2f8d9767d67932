"""Events the notifications service publishes."""

from __future__ import annotations

from datetime import datetime

from halcyon.shared.contracts import EventContract


class DeliveryStatusChanged(EventContract):
    event_type = "halcyon.notifications.delivery.status_changed.v1"
    topic = "notifications.delivery.v1"
    subject_field = "delivery_id"

    delivery_id: str
    channel: str  # email | sms | inbox
    status: str  # queued | sent | delivered | failed | dead
    recipient_kind: str  # client | staff
    recipient_id: str
    at: datetime
