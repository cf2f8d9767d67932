"""Partner topics: separate contracts with the minimum necessary, never internal events.

Partners read ``partner.<audience>.*`` over SASL/SCRAM with ACLs (ADR 0007). Clients
appear only as a pseudonym that is stable per agency and audience (a keyed hash), so a
registry can follow one participant across sessions without learning who they are.
"""

from __future__ import annotations

from datetime import date

from halcyon.shared.contracts import EventContract


class RegistryDoseReported(EventContract):
    """A controlled-substance dose given in a research protocol, for research registries.

    No name, date of birth, record number, clinician or exact time: a participant
    pseudonym, the protocol, what was given, how much, and the day.
    """

    event_type = "halcyon.partner.registry_dose.reported.v1"
    topic = "partner.registry.dose.v1"
    subject_field = "report_id"

    report_id: str
    participant: str  # pseudonym, stable per agency for the registry audience
    protocol_id: str
    substance: str
    quantity_mg: float
    supplemental: bool
    administered_on: date
