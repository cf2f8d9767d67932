"""FHIR search: ``_id``, ``patient``, ``date``, ``_lastUpdated``, ``_count`` with paging.

Every chart a search opens is opened with the caller's rights and audited, exactly as
a read of that chart would be; a search never widens access.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from halcyon.clinical.domain import fhir_record
from halcyon.clinical.domain.fhir_record import (
    CLINICAL_TYPES,
    DIRECTORY_TYPES,
    Found,
    SearchFilter,
    last_updated,
)
from halcyon.clinical.usecases.chart import CHART_READERS, Charts
from halcyon.clinical.usecases.fhir_record import (
    CHART_LIMIT,
    ChartSources,
    of_type,
    owner_of,
    patient_found,
)
from halcyon.shared.auth import ALL_SITES
from halcyon.shared.errors import NotFound, RuleViolation

DIRECTORY_READERS = CHART_READERS | {"front_desk", "biller", "scheduler"}


@dataclass(frozen=True)
class SearchRequest:
    resource_type: str
    filter: SearchFilter
    patient: str | None
    count: int
    offset: int


def parse(
    resource_type: str,
    *,
    ids: str | None,
    patient: str | None,
    dates: list[str],
    last_updated: list[str],
    count: int,
    offset: int,
) -> SearchRequest:
    if resource_type not in (*CLINICAL_TYPES, *DIRECTORY_TYPES):
        raise NotFound(f"this server has no FHIR {resource_type}; see /fhir/metadata")
    if dates and resource_type in ("Patient", *DIRECTORY_TYPES):
        raise RuleViolation(f"{resource_type} has no date search parameter")
    if patient and resource_type in ("Patient", *DIRECTORY_TYPES):
        raise RuleViolation(f"{resource_type} has no patient search parameter")
    wanted = frozenset(i.strip() for i in (ids or "").split(",") if i.strip())
    return SearchRequest(
        resource_type=resource_type,
        filter=SearchFilter(
            ids=wanted,
            dates=tuple(fhir_record.parse_date(d) for d in dates),
            last_updated=tuple(fhir_record.parse_date(d) for d in last_updated),
        ),
        # ``patient=Patient/123`` and ``patient=123`` mean the same.
        patient=patient.removeprefix("Patient/") if patient else None,
        count=count,
        offset=offset,
    )


async def search(
    src: ChartSources,
    query: SearchRequest,
    charts: Charts,
    now: datetime,
) -> tuple[list[Found], int]:
    """One page of matches and the total number of matches."""
    caller = charts.caller
    kind = query.resource_type
    if kind in DIRECTORY_TYPES:
        caller.require(DIRECTORY_READERS)
        found = await _directory(src, caller.tenant_id, kind)
    elif kind == "Patient":
        found = await _patients(src, query, charts)
    else:
        found = await _chart_resources(src, query, charts, now)
    matches = [f for f in found if query.filter.admits(f)]
    return matches[query.offset : query.offset + query.count], len(matches)


async def _chart_resources(
    src: ChartSources,
    query: SearchRequest,
    charts: Charts,
    now: datetime,
) -> list[Found]:
    caller = charts.caller
    kind = query.resource_type
    if query.patient:
        owners = [query.patient]
    elif query.filter.ids:
        found_owners = [
            await owner_of(src, caller.tenant_id, kind, i) for i in sorted(query.filter.ids)
        ]
        owners = sorted({o for o in found_owners if o})
    else:
        raise RuleViolation(f"a {kind} search names a patient or an _id")
    found: list[Found] = []
    for client_id in owners:
        chart = await charts.open(client_id, CHART_READERS, action="read", resource=f"fhir/{kind}")
        found += await of_type(src, caller.tenant_id, client_id, kind, now)
        await chart.record("read", f"fhir/{kind}")
    return found


async def _patients(
    src: ChartSources,
    query: SearchRequest,
    charts: Charts,
) -> list[Found]:
    caller = charts.caller
    if query.filter.ids:
        clients = [
            c for i in sorted(query.filter.ids) if (c := await src.clients.get(caller.tenant_id, i))
        ]
    else:
        caller.require(CHART_READERS)
        sites = {g.site_id for g in caller.grants if g.role in CHART_READERS}
        scope = {} if ALL_SITES in sites else {"home_site_id": {"$in": sorted(sites)}}
        clients = await src.clients.find(caller.tenant_id, scope, limit=CHART_LIMIT)
    found = []
    for client in clients:
        if not query.filter.admits(Found({"id": client["_id"]}, last_updated(client))):
            continue
        chart = await charts.open(
            str(client["_id"]),
            CHART_READERS,
            action="read",
            resource="fhir/Patient",
            resource_id=str(client["_id"]),
        )
        await chart.record("read", "fhir/Patient", chart.client_id)
        found.append(patient_found(client, caller.tenant_id))
    return found


async def _directory(src: ChartSources, tenant_id: str, kind: str) -> list[Found]:
    """Practitioners and locations from the read models of identity's staff and sites."""
    if kind == "Organization":
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        org = fhir_record.organization(tenant_id)
        return [Found(fhir_record.with_last_updated(org, epoch), epoch)]
    if kind == "Practitioner":
        staff = await src.staff.find(tenant_id, {}, limit=CHART_LIMIT)
        return [_directory_found(fhir_record.practitioner(s), s) for s in staff]
    sites = await src.sites.find(tenant_id, {}, limit=CHART_LIMIT)
    return [_directory_found(fhir_record.location(s, tenant_id), s) for s in sites]


def _directory_found(resource: object, doc: dict[str, object]) -> Found:
    changed = last_updated(doc)
    return Found(fhir_record.with_last_updated(resource, changed), changed)  # type: ignore[arg-type]
