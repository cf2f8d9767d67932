"""Load a client's chart as FHIR resources: for search, the record Bundle and bulk export.

One loader per resource type; each returns ``Found`` (the JSON resource with
``meta.lastUpdated``, plus the date that ``date`` search matches). Drafts are not part
of the record yet: a draft's encounter is ``in-progress`` and its text is not exported
as a DocumentReference until it is signed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from halcyon.clinical.domain import fhir, fhir_lists, fhir_record
from halcyon.clinical.domain.consents import consent_status
from halcyon.clinical.domain.fhir_record import Found, as_datetime, last_updated
from halcyon.clinical.domain.group_sessions import member_record
from halcyon.clinical.store import (
    AllergyRepository,
    AppointmentDirectory,
    AssessmentRepository,
    ClientRepository,
    ConsentRepository,
    DocumentRepository,
    EpisodeRepository,
    GroupSessionRepository,
    MedicationRepository,
    NoteRepository,
    ProblemRepository,
    SiteDirectory,
    StaffDirectory,
    VitalsRepository,
)
from halcyon.shared.mongo import Document, TenantRepository

# Far above a real chart; bounds one read per type and client.
CHART_LIMIT = 5000


@dataclass(frozen=True)
class ChartSources:
    clients: ClientRepository
    notes: NoteRepository
    episodes: EpisodeRepository
    problems: ProblemRepository
    medications: MedicationRepository
    allergies: AllergyRepository
    vitals: VitalsRepository
    assessments: AssessmentRepository
    consents: ConsentRepository
    staff: StaffDirectory
    sites: SiteDirectory
    appointments: AppointmentDirectory
    group_sessions: GroupSessionRepository
    documents: DocumentRepository

    @classmethod
    def of(cls, repo: Callable[[type[Any]], Any]) -> ChartSources:
        """From the runtime's repository lookup (``runtime.repo``)."""
        return cls(
            clients=repo(ClientRepository),
            notes=repo(NoteRepository),
            episodes=repo(EpisodeRepository),
            problems=repo(ProblemRepository),
            medications=repo(MedicationRepository),
            allergies=repo(AllergyRepository),
            vitals=repo(VitalsRepository),
            assessments=repo(AssessmentRepository),
            consents=repo(ConsentRepository),
            staff=repo(StaffDirectory),
            sites=repo(SiteDirectory),
            appointments=repo(AppointmentDirectory),
            group_sessions=repo(GroupSessionRepository),
            documents=repo(DocumentRepository),
        )


Loader = Callable[[ChartSources, str, str, datetime], Awaitable[list[Found]]]


def _found(resource: Any, doc: Document, when: Any) -> Found:
    changed = last_updated(doc)
    return Found(fhir_record.with_last_updated(resource, changed), changed, as_datetime(when))


async def _of_client(repo: TenantRepository, tenant_id: str, client_id: str) -> list[Document]:
    return await repo.find(tenant_id, {"client_id": client_id}, limit=CHART_LIMIT)


def patient_found(client: Document, tenant_id: str) -> Found:
    return _found(fhir.patient(client, tenant_id), client, None)


async def _encounters(
    src: ChartSources, tenant: str, client_id: str, _now: datetime
) -> list[Found]:
    notes = await _of_client(src.notes, tenant, client_id)
    return [
        _found(fhir.encounter(n), n, n.get("started_at")) for n in notes if not n.get("addendum_of")
    ]


async def _documents(src: ChartSources, tenant: str, client_id: str, _now: datetime) -> list[Found]:
    notes = await _of_client(src.notes, tenant, client_id)
    # Signed group notes, as this member's chart shows them (ADR 0306).
    groups = await src.group_sessions.find(
        tenant, {"members.client_id": client_id, "status": "signed"}, limit=CHART_LIMIT
    )
    notes += [member_record(g, client_id) for g in groups]
    found = [
        _found(fhir_record.document_reference(n), n, n.get("signed_at") or n.get("created_at"))
        for n in notes
        if n.get("status") != "draft"
    ]
    # Scanned documents in the chart (ADR 0307); one still being stored is not listed.
    uploaded = await src.documents.find(
        tenant, {"client_id": client_id, "status": "stored"}, limit=CHART_LIMIT
    )
    return found + [
        _found(fhir_record.uploaded_document_reference(d), d, d["uploaded_at"]) for d in uploaded
    ]


async def _observations(
    src: ChartSources, tenant: str, client_id: str, _now: datetime
) -> list[Found]:
    found = [
        _found(obs, reading, reading.get("measured_at"))
        for reading in await _of_client(src.vitals, tenant, client_id)
        for obs in fhir.vitals_observations(reading)
    ]
    found += [
        _found(fhir.score_observation(a), a, a.get("administered_at"))
        for a in await _of_client(src.assessments, tenant, client_id)
    ]
    return found


async def _conditions(src: ChartSources, tenant: str, client_id: str, now: datetime) -> list[Found]:
    found = [
        _found(fhir.condition(episode, diagnosis), episode, episode.get("started_on"))
        for episode in await _of_client(src.episodes, tenant, client_id)
        for diagnosis in episode.get("diagnoses", [])
    ]
    today = now.date()
    found += [
        _found(fhir_lists.problem_condition(p, today), p, p.get("started_on") or p["recorded_at"])
        for p in await _of_client(src.problems, tenant, client_id)
    ]
    return found


async def _medications(
    src: ChartSources, tenant: str, client_id: str, now: datetime
) -> list[Found]:
    return [
        _found(
            fhir_lists.medication_statement(m, now.date()),
            m,
            m.get("started_on") or m["recorded_at"],
        )
        for m in await _of_client(src.medications, tenant, client_id)
    ]


async def _allergies(src: ChartSources, tenant: str, client_id: str, now: datetime) -> list[Found]:
    return [
        _found(fhir_lists.allergy_intolerance(a, now.date()), a, a["recorded_at"])
        for a in await _of_client(src.allergies, tenant, client_id)
    ]


async def _consents(src: ChartSources, tenant: str, client_id: str, now: datetime) -> list[Found]:
    return [
        _found(fhir.consent(c, consent_status(c, now)), c, c.get("signed_at"))
        for c in await _of_client(src.consents, tenant, client_id)
    ]


async def _appointments(
    src: ChartSources, tenant: str, client_id: str, _now: datetime
) -> list[Found]:
    return [
        _found(fhir_record.appointment(a), a, a.get("starts_at"))
        for a in await _of_client(src.appointments, tenant, client_id)
    ]


LOADERS: dict[str, Loader] = {
    "Encounter": _encounters,
    "DocumentReference": _documents,
    "Observation": _observations,
    "Condition": _conditions,
    "MedicationStatement": _medications,
    "AllergyIntolerance": _allergies,
    "Consent": _consents,
    "Appointment": _appointments,
}


async def of_type(
    src: ChartSources, tenant_id: str, client_id: str, resource_type: str, now: datetime
) -> list[Found]:
    return await LOADERS[resource_type](src, tenant_id, client_id, now)


async def client_record(
    src: ChartSources, tenant_id: str, client: Document, now: datetime
) -> list[Found]:
    """Every resource of one client, the Patient first."""
    found = [patient_found(client, tenant_id)]
    for loader in LOADERS.values():
        found += await loader(src, tenant_id, str(client["_id"]), now)
    return found


async def owner_of(
    src: ChartSources, tenant_id: str, resource_type: str, resource_id: str
) -> str | None:
    """The client a resource id belongs to (``_id`` search without ``patient``)."""
    if resource_type == "Patient":
        return resource_id if await src.clients.get(tenant_id, resource_id) else None
    candidates: dict[str, tuple[TenantRepository, ...]] = {
        "Encounter": (src.notes,),
        "DocumentReference": (src.notes, src.documents),
        "Observation": (src.assessments, src.vitals),
        "Condition": (src.problems, src.episodes),
        "MedicationStatement": (src.medications,),
        "AllergyIntolerance": (src.allergies,),
        "Consent": (src.consents,),
        "Appointment": (src.appointments,),
    }
    # Vitals and diagnoses are several resources per record: "<record id>-<suffix>".
    ids = [resource_id]
    for parts in (1, 2):  # LOINC codes have a dash of their own: "<reading>-8867-4"
        if resource_id.count("-") >= parts:
            ids.append(resource_id.rsplit("-", parts)[0])
    for repo in candidates.get(resource_type, ()):
        for candidate in ids:
            doc = await repo.get(tenant_id, candidate)
            if doc is not None and doc.get("client_id"):
                return str(doc["client_id"])
    return None
