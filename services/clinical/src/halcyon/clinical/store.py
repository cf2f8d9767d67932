"""Clinical repositories (PyMongo async), each scoped to one tenant."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from halcyon.shared.errors import Conflict
from halcyon.shared.files import FileChunks
from halcyon.shared.mongo import Document, OutboxEvent, Page, TenantRepository
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument


class ClientRepository(TenantRepository):
    collection_name = "clients"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("mrn", ASCENDING)], unique=True),
        IndexModel(
            [("tenant_id", ASCENDING), ("name_key", ASCENDING), ("date_of_birth", ASCENDING)]
        ),
        IndexModel([("tenant_id", ASCENDING), ("family_key", ASCENDING)]),
        IndexModel(
            [("tenant_id", ASCENDING), ("national_identifier.fingerprint", ASCENDING)],
            sparse=True,
        ),
    )

    async def next_mrn_sequence(self, tenant_id: str) -> int:
        counters = self._collection.database["counters"]
        doc: Document | None = await counters.find_one_and_update(
            self._scope(tenant_id, {"_id": f"{tenant_id}:mrn"}),
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:  # an upsert returning the document after it always has one
            raise RuntimeError("the MRN counter upsert returned no document")
        return int(doc["value"])

    async def likely_duplicates(
        self, tenant_id: str, name_key: str, dob: str, fingerprint: str | None = None
    ) -> list[Document]:
        """Same folded name and date of birth, or the same national identifier.

        Two plain queries rather than one ``$or``: each is an equality the index (and the
        local FerretDB's pushdown, ADR 0002) answers directly, so registering a client
        does not read every client of the agency.
        """
        found = await self.find(tenant_id, {"name_key": name_key, "date_of_birth": dob}, limit=5)
        if fingerprint and len(found) < 5:
            seen = {d["_id"] for d in found}
            for doc in await self.find(
                tenant_id, {"national_identifier.fingerprint": fingerprint}, limit=5
            ):
                if doc["_id"] not in seen and len(found) < 5:
                    found.append(doc)
        return found

    async def search(
        self,
        tenant_id: str,
        *,
        name: str | None,
        date_of_birth: str | None,
        mrn: str | None,
        sites: list[str] | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        query: dict[str, Any] = {}
        if sites is not None:
            query["home_site_id"] = {"$in": sites}
        if name:
            # Folded prefix on family name or on "family+given", anchored so the index helps.
            prefix = "^" + re.escape(name)
            query["$or"] = [{"family_key": {"$regex": prefix}}, {"name_key": {"$regex": prefix}}]
        if date_of_birth:
            query["date_of_birth"] = date_of_birth
        if mrn:
            query["mrn"] = mrn
        return await self.page(tenant_id, query, limit=limit, cursor=cursor)


class EpisodeRepository(TenantRepository):
    collection_name = "episodes"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class TreatmentPlanRepository(TenantRepository):
    collection_name = "treatment_plans"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class ConsentRepository(TenantRepository):
    collection_name = "consents"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),
        IndexModel([("expires_at", ASCENDING)], sparse=True),
    )

    async def expired_unannounced(self, now: datetime, limit: int = 100) -> list[Document]:
        """Consents past their expiry whose expiry nobody was told about yet, in any agency.

        Deliberately cross-tenant: a system sweep, not a caller's query. Each result is
        then updated through ``update`` under its own ``tenant_id``.
        """
        cursor = self._collection.find(
            {"expires_at": {"$lte": now}, "revoked_at": None, "expiry_announced": {"$ne": True}},
            projection={"_outbox": 0, "_outbox_pending": 0, "_outbox_version": 0},
            limit=limit,
        )
        return [doc async for doc in cursor]


class DisclosureRepository(TenantRepository):
    """The accounting of disclosures (42 CFR 2.24 / HIPAA 164.528): append-only."""

    collection_name = "disclosures"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class ScreeningRepository(TenantRepository):
    collection_name = "screenings"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class RemsForms(TenantRepository):
    """One SPRAVATO REMS Patient Monitoring Form per signed session (``_id`` the note's),
    its local due day, reminders sent and submission."""

    collection_name = "rems_forms"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("due_at", ASCENDING)]),
    )


class VitalsRepository(TenantRepository):
    collection_name = "vitals"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("encounter_id", ASCENDING)]),
    )


class AssessmentRepository(TenantRepository):
    collection_name = "assessments"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING), ("instrument", ASCENDING)]),
    )


class QuestionnaireResponseRepository(TenantRepository):
    collection_name = "questionnaire_responses"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class FormRepository(TenantRepository):
    """One document per (form key, version); a new version never changes an old one."""

    collection_name = "forms"
    indexes = (
        IndexModel(
            [("tenant_id", ASCENDING), ("key", ASCENDING), ("version", DESCENDING)], unique=True
        ),
    )

    async def latest(self, tenant_id: str, key: str) -> Document | None:
        found = await self.find(tenant_id, {"key": key}, sort=(("version", DESCENDING),), limit=1)
        return found[0] if found else None


class StaffDirectory(TenantRepository):
    """Read model of identity's staff files: names, roles, licences, supervisor."""

    collection_name = "staff"


class SiteDirectory(TenantRepository):
    """Read model of identity's sites: the time zone that dates a service."""

    collection_name = "sites"


class DispensedDoses(TenantRepository):
    """Read model of inventory's dispense events, joined to dosing notes when read."""

    collection_name = "dispensed_doses"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


# Fields only the signing steps set; nothing else may change once a note is locked.
_LIFECYCLE_FIELDS = frozenset(
    {
        "status",
        "content_hash",
        "signed_by",
        "signed_at",
        "supervisor_id",
        "cosigned_by",
        "cosigned_at",
        "compliance_flags",
        "acknowledged_conditions",
        "updated_at",
    }
)


class NoteRepository(TenantRepository):
    """Encounter notes and addenda.

    Immutability is enforced here as well as in the domain: every update filter
    includes ``status: "draft"``, so a signed or awaiting-co-signature note is never
    matched by an edit, whatever the caller asks. Only ``transition`` moves a note
    along its lifecycle, and it can set lifecycle fields only.
    """

    collection_name = "notes"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("addendum_of", ASCENDING)]),
    )

    async def update(
        self,
        tenant_id: str,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        events: Sequence[OutboxEvent] = (),
        *,
        upsert: bool = False,
    ) -> Document | None:
        if upsert:
            raise Conflict("notes are created by insert, never upserted")
        guarded = {"$and": [dict(query), {"status": "draft"}]}
        return await super().update(tenant_id, guarded, update, events)

    async def transition(
        self,
        tenant_id: str,
        note_id: str,
        *,
        from_status: str,
        changes: Mapping[str, Any],
        events: Sequence[OutboxEvent] = (),
        draft_version: int | None = None,
    ) -> Document | None:
        """Move a note along its lifecycle, only from ``from_status``.

        ``draft_version``: the version of the draft that was read (and hashed). If an edit
        landed in between, nothing matches, so a hash never covers content it did not see.
        """
        unexpected = set(changes) - _LIFECYCLE_FIELDS
        if unexpected:
            raise Conflict(f"a lifecycle step cannot change {sorted(unexpected)}")
        query: dict[str, Any] = {"_id": note_id, "status": from_status}
        if draft_version is not None:
            query["draft_version"] = draft_version
        return await super().update(tenant_id, query, {"$set": dict(changes)}, events)

    async def delete(self, tenant_id: str, query: Mapping[str, Any]) -> int:
        return await super().delete(tenant_id, {"$and": [dict(query), {"status": "draft"}]})

    async def next_revision(self, tenant_id: str, note_id: str) -> int:
        """Billing revisions of a signed encounter: 1 is the signature, addenda count up."""
        counters = self._collection.database["counters"]
        doc: Document | None = await counters.find_one_and_update(
            self._scope(tenant_id, {"_id": f"{tenant_id}:revision:{note_id}"}),
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:  # an upsert returning the document after it always has one
            raise RuntimeError("the MRN counter upsert returned no document")
        return int(doc["value"]) + 1


class MedicationRepository(TenantRepository):
    """The client's medication list (entries are stopped or marked in error, never deleted)."""

    collection_name = "medications"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class AllergyRepository(TenantRepository):
    collection_name = "allergies"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class ProblemRepository(TenantRepository):
    collection_name = "problems"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


CHART_LIST_REPOSITORIES: dict[str, type[TenantRepository]] = {
    "medications": MedicationRepository,
    "allergies": AllergyRepository,
    "problems": ProblemRepository,
}


class ExportJobRepository(TenantRepository):
    """FHIR bulk export jobs; a worker claims one under a lease (ADR 0304)."""

    collection_name = "export_jobs"
    indexes = (IndexModel([("status", ASCENDING), ("lease_until", ASCENDING)]),)

    async def claimable(self, now: datetime, limit: int = 5) -> list[Document]:
        """Jobs waiting, or whose worker stopped renewing its lease, in any agency.

        Cross-tenant like the consent sweep: each is then claimed with a conditional
        update under its own ``tenant_id``.
        """
        cursor = self._collection.find(
            {"status": {"$in": ["accepted", "in-progress"]}, "lease_until": {"$lt": now}},
            projection={"_outbox": 0, "_outbox_pending": 0, "_outbox_version": 0},
            sort=[("_id", ASCENDING)],
            limit=limit,
        )
        return [doc async for doc in cursor]


class ExportFileRepository(TenantRepository):
    """The NDJSON files of an export job, one document per part."""

    collection_name = "export_files"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("job_id", ASCENDING)]),)

    async def delete_job(self, tenant_id: str, job_id: str) -> None:
        await self._collection.delete_many(self._scope(tenant_id, {"job_id": job_id}))


class AppointmentDirectory(TenantRepository):
    """Read model of scheduling's appointments: the client's visits in the exported record."""

    collection_name = "appointments"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class GroupSessionRepository(TenantRepository):
    """Group sessions and their one note (ADR 0306); locked like notes once signed.

    Every update filter includes ``status: "draft"``: a signed group note is never
    matched by an edit, whatever the caller asks.
    """

    collection_name = "group_sessions"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("members.client_id", ASCENDING)]),)

    async def update(
        self,
        tenant_id: str,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        events: Sequence[OutboxEvent] = (),
        *,
        upsert: bool = False,
    ) -> Document | None:
        if upsert:
            raise Conflict("group sessions are created by insert, never upserted")
        guarded = {"$and": [dict(query), {"status": "draft"}]}
        return await super().update(tenant_id, guarded, update, events)


class DocumentRepository(TenantRepository):
    """What is known of each uploaded file (its bytes are in ``DocumentChunks``).

    A document is listed only once every chunk is stored (``status: stored``), so an
    upload that stopped half-way never shows as a file.
    """

    collection_name = "documents"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class DocumentChunks(FileChunks):
    """A document's bytes, sealed per agency, in chunks (``halcyon.shared.files``)."""

    collection_name = "document_chunks"
