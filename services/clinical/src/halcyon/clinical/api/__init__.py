"""Clinical HTTP API, one router per area of the chart."""

from halcyon.clinical.api import (
    assessments,
    clients,
    consents,
    episodes,
    fhir,
    forms,
    notes,
    screening,
    vitals,
)

routers = [
    clients.router,
    episodes.router,
    forms.router,
    forms.questionnaires,
    consents.router,
    screening.router,
    notes.router,
    vitals.router,
    assessments.router,
    fhir.router,
]
