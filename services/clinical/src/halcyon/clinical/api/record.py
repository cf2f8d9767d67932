"""A client's complete record, as a FHIR Bundle or a readable PDF; every export audited."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from halcyon.clinical.api.deps import ChartDoor, Runtime
from halcyon.clinical.domain.common import utcnow
from halcyon.clinical.usecases import client_record
from halcyon.clinical.usecases.chart import CHART_READERS
from halcyon.clinical.usecases.fhir_record import ChartSources

router = APIRouter(tags=["record export"])


@router.get(
    "/clients/{client_id}/record",
    summary="The client's complete record as a FHIR R4 Bundle (collection)",
    response_class=JSONResponse,
)
async def record_bundle(client_id: str, charts: ChartDoor, runtime: Runtime) -> JSONResponse:
    chart = await charts.open(client_id, CHART_READERS, action="export", resource="clinical/record")
    src = ChartSources.of(runtime.repo)
    body = await client_record.record_bundle(src, chart, utcnow())
    return JSONResponse(body, media_type="application/fhir+json")


@router.get(
    "/clients/{client_id}/record.pdf",
    summary="The client's complete record as a readable PDF",
    response_class=Response,
)
async def record_pdf(client_id: str, charts: ChartDoor, runtime: Runtime) -> Response:
    chart = await charts.open(client_id, CHART_READERS, action="export", resource="clinical/record")
    src = ChartSources.of(runtime.repo)
    pdf = await client_record.record_pdf(src, chart, utcnow())
    filename = f"record-{chart.client['mrn']}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
