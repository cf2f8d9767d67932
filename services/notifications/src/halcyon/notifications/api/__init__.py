"""Notifications HTTP API: one router per feature."""

from halcyon.notifications.api import clock, consent, deliveries, inbox, preferences, templates

routers = [
    inbox.router,
    preferences.router,
    consent.router,
    deliveries.router,
    templates.router,
    clock.router,
]
