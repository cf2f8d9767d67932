"""Notifications service wiring.

Its capabilities arrive with their issue; today it serves health and readiness.
"""

from __future__ import annotations

from halcyon.notifications.settings import NotificationsSettings
from halcyon.shared.service import ServiceWiring, create_service_app

wiring = ServiceWiring(title="Halcyon notifications")

app = create_service_app(NotificationsSettings(), wiring)
