"""Clinical HTTP API, one router per area of the chart."""

from halcyon.clinical.api import (
    assessments,
    chart_lists,
    clients,
    consents,
    documents,
    episodes,
    fhir,
    fhir_export,
    forms,
    group_sessions,
    notes,
    record,
    rems,
    reports,
    screening,
    vitals,
)

routers = [
    clients.router,
    chart_lists.router,
    documents.router,
    episodes.router,
    forms.router,
    forms.questionnaires,
    consents.router,
    screening.router,
    notes.router,
    rems.router,
    group_sessions.router,
    vitals.router,
    assessments.router,
    record.router,
    reports.router,
    # $export before /fhir/{type}: the generic search would take it for a type.
    fhir_export.router,
    fhir.capabilities,
    fhir.router,
]
