"""A client's complete record (HIPAA right of access, 45 CFR 164.524): Bundle or PDF."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from halcyon.clinical.domain import fhir, fhir_record
from halcyon.clinical.record_pdf import render
from halcyon.clinical.usecases.chart import Chart
from halcyon.clinical.usecases.fhir_record import ChartSources, client_record


async def record_bundle(src: ChartSources, chart: Chart, now: datetime) -> dict[str, Any]:
    found = await client_record(src, chart.tenant_id, chart.client, now)
    bundle = fhir_record.collection([f.body for f in found], now)
    # An export is a disclosure-grade read: audited as such, once per export.
    await chart.record("export", "clinical/record", chart.client_id)
    return fhir.as_json(bundle)


async def record_pdf(src: ChartSources, chart: Chart, now: datetime) -> bytes:
    found = await client_record(src, chart.tenant_id, chart.client, now)
    pdf = render([f.body for f in found], chart.tenant_id, now)
    await chart.record("export", "clinical/record", chart.client_id)
    return pdf
