"""Billing dashboards read from billing's own read models (claims, posted 835 payments)."""

from __future__ import annotations

from datetime import date
from typing import Any

from halcyon.billing import store
from halcyon.billing.domain import dashboards
from halcyon.shared.calendar import require_period, site_day


async def ar_aging(claims: store.Claims, tenant: str, site_id: str, as_of: date) -> dict[str, Any]:
    found = await claims.find(
        tenant, {"site_id": site_id, "status": {"$in": sorted(dashboards.OPEN_STATUSES)}}
    )
    return {"site_id": site_id, **dashboards.ar_aging(found, as_of)}


async def denials(
    claims: store.Claims,
    payments: store.Payments,
    sites: store.Sites,
    tenant: str,
    site_id: str,
    start: date,
    end: date,
) -> dict[str, Any]:
    require_period(start, end)
    site = await sites.get(tenant, site_id)
    zone = site.get("timezone") if site else None
    site_claims = {c["_id"] for c in await claims.find(tenant, {"site_id": site_id})}
    denied = await payments.find(tenant, {"kind": "claim_payment", "denial": True})
    # Payments carry no site: a denial belongs to the site of the claim it answers, on the
    # site-local day it was posted.
    in_period = [
        p
        for p in denied
        if p.get("claim_id") in site_claims and start <= site_day(p["posted_at"], zone) <= end
    ]
    return {
        "site_id": site_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        **dashboards.denials_by_reason(in_period),
    }


async def billable_units(
    charges: store.Charges,
    staff: store.StaffDirectory,
    tenant: str,
    site_id: str,
    start: date,
    end: date,
) -> dict[str, Any]:
    require_period(start, end)
    # Service dates are the site's local days already (the note's day at its site).
    found = await charges.find(
        tenant,
        {
            "site_id": site_id,
            "kind": "charge",
            "service_date": {"$gte": start.isoformat(), "$lte": end.isoformat()},
        },
    )
    ids = sorted({str(c.get("rendering_staff_id")) for c in found if c.get("rendering_staff_id")})
    names = {
        str(s["_id"]): str(s.get("display_name") or s["_id"])
        for s in (await staff.find(tenant, {"_id": {"$in": ids}}) if ids else [])
    }
    return {
        "site_id": site_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        **dashboards.billable_units_by_clinician(found, names),
    }
