"""Clinical service wiring."""

from __future__ import annotations

from fastapi import FastAPI
from halcyon.clinical import handlers
from halcyon.clinical.api import routers
from halcyon.clinical.settings import ClinicalParts, ClinicalSettings, clinical_parts
from halcyon.clinical.store import (
    AllergyRepository,
    AppointmentDirectory,
    AssessmentRepository,
    ClientRepository,
    ConsentRepository,
    DisclosureRepository,
    DispensedDoses,
    DocumentChunks,
    DocumentRepository,
    EpisodeRepository,
    ExportFileRepository,
    ExportJobRepository,
    FormRepository,
    GroupSessionRepository,
    MedicationRepository,
    NoteRepository,
    ProblemRepository,
    QuestionnaireResponseRepository,
    RemsForms,
    ScreeningRepository,
    SiteDirectory,
    StaffDirectory,
    TreatmentPlanRepository,
    VitalsRepository,
)
from halcyon.clinical.sweeps import run_consent_sweep, run_export_worker
from halcyon.clinical.usecases.rems import run_rems_form_sweep
from halcyon.shared.contracts.clinical import (
    AssessmentScored,
    ClientDetailsChanged,
    ClientRegistered,
    ConsentChanged,
    EncounterSigned,
    RemsMonitoringFormDue,
    SafetyAlertRaised,
    ScreeningCompleted,
    VitalsAlertRaised,
)
from halcyon.shared.contracts.partner import RegistrySessionReported
from halcyon.shared.service import ServiceWiring, create_service_app

wiring: ServiceWiring[ClinicalSettings, ClinicalParts] = ServiceWiring(
    title="Halcyon clinical",
    description=(
        "Clients and their chart: consents (incl. 42 CFR Part 2), screening, signed notes, "
        "vitals, assessments, FHIR R4."
    ),
    routers=routers,
    repositories=[
        ClientRepository,
        EpisodeRepository,
        TreatmentPlanRepository,
        FormRepository,
        ConsentRepository,
        DisclosureRepository,
        ScreeningRepository,
        NoteRepository,
        VitalsRepository,
        AssessmentRepository,
        QuestionnaireResponseRepository,
        StaffDirectory,
        SiteDirectory,
        DispensedDoses,
        MedicationRepository,
        AllergyRepository,
        ProblemRepository,
        ExportJobRepository,
        ExportFileRepository,
        AppointmentDirectory,
        RemsForms,
        GroupSessionRepository,
        DocumentRepository,
        DocumentChunks,
    ],
    publishes=[
        ClientRegistered,
        ClientDetailsChanged,
        ConsentChanged,
        ScreeningCompleted,
        EncounterSigned,
        VitalsAlertRaised,
        SafetyAlertRaised,
        AssessmentScored,
        RegistrySessionReported,
        RemsMonitoringFormDue,
    ],
    handlers=handlers.register,
    parts=clinical_parts,
    on_start=[run_consent_sweep, run_export_worker, run_rems_form_sweep],
)


def build_app(settings: ClinicalSettings | None = None) -> FastAPI:
    return create_service_app(settings or ClinicalSettings(), wiring)


app = build_app()
