"""Events the clinical service publishes (topic ``clinical.client.v1`` …)."""

from __future__ import annotations

from datetime import date

from halcyon.shared.contracts import EventContract
from pydantic import Field


class ClientRegistered(EventContract):
    """A client (patient) was registered at an agency. Minimum necessary: no identifiers."""

    event_type = "halcyon.clinical.client.registered.v1"
    topic = "clinical.client.v1"
    subject_field = "client_id"

    client_id: str
    home_site_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    preferred_language: str | None = Field(default=None)
