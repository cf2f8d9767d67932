"""The outcomes dashboard, read from clinical's own episodes and assessments."""

from __future__ import annotations

from datetime import date
from typing import Any

from halcyon.clinical.domain import outcomes
from halcyon.clinical.store import AssessmentRepository, EpisodeRepository, SiteDirectory
from halcyon.shared.calendar import require_period, site_day


async def outcomes_report(
    episodes: EpisodeRepository,
    assessments: AssessmentRepository,
    sites: SiteDirectory,
    tenant: str,
    site_id: str,
    start: date,
    end: date,
) -> dict[str, Any]:
    require_period(start, end)
    site = await sites.get(tenant, site_id)
    zone = site.get("timezone") if site else None
    spans = [
        outcomes.episode_span(e)
        for e in await episodes.find(
            tenant, {"site_id": site_id, "started_on": {"$lte": end.isoformat()}}
        )
        if not e.get("ended_on") or str(e["ended_on"]) >= start.isoformat()
    ]
    client_ids = sorted({s.client_id for s in spans})
    scores = [
        outcomes.Score(
            client_id=str(a["client_id"]),
            instrument=str(a["instrument"]),
            day=site_day(a["administered_at"], zone),
            total=int(a["total"]),
            at=a["administered_at"],
        )
        for a in (
            await assessments.find(
                tenant,
                {
                    "client_id": {"$in": client_ids},
                    "instrument": {"$in": list(outcomes.OUTCOME_INSTRUMENTS)},
                },
            )
            if client_ids
            else []
        )
    ]
    return {"site_id": site_id, **outcomes.outcomes(spans, scores, start, end)}
