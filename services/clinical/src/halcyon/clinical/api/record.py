"""A client's complete record, as a FHIR Bundle or a readable PDF; every export audited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.usecases import client_record
from halcyon.clinical.usecases.chart import CHART_READERS, Clients, open_chart
from halcyon.clinical.usecases.fhir_record import ChartSources
from halcyon.shared.http.deps import CurrentCaller
from halcyon.shared.service import Audit, runtime_of

router = APIRouter(tags=["record export"])


@router.get(
    "/clients/{client_id}/record",
    summary="The client's complete record as a FHIR R4 Bundle (collection)",
    response_class=JSONResponse,
)
async def record_bundle(
    client_id: str, caller: CurrentCaller, clients: Clients, audit: Audit, request: Request
) -> JSONResponse:
    chart = await open_chart(
        clients, caller, audit, request, client_id, CHART_READERS,
        action="export", resource="clinical/record",
    )  # fmt: skip
    src = ChartSources.of(runtime_of(request).repo)
    body = await client_record.record_bundle(src, chart, utcnow())
    return JSONResponse(body, media_type="application/fhir+json")


@router.get(
    "/clients/{client_id}/record.pdf",
    summary="The client's complete record as a readable PDF",
    response_class=Response,
)
async def record_pdf(
    client_id: str, caller: CurrentCaller, clients: Clients, audit: Audit, request: Request
) -> Response:
    chart = await open_chart(
        clients, caller, audit, request, client_id, CHART_READERS,
        action="export", resource="clinical/record",
    )  # fmt: skip
    src = ChartSources.of(runtime_of(request).repo)
    pdf = await client_record.record_pdf(src, chart, utcnow())
    filename = f"record-{chart.client['mrn']}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
