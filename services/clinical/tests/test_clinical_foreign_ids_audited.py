"""An id from another agency (or none at all) is a 404 that is on the access audit as
"failed", for records loaded before their chart is opened (HIPAA 45 CFR 164.312(b):
an attempt that failed is an access attempt too)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from clinical_testkit import (  # type: ignore[import-not-found]
    ClinicalHarness,
    clinical,
    new_tenant,
)

__all__ = ["clinical"]

pytestmark = pytest.mark.integration


async def test_foreign_ids_of_chart_records_are_refused_and_audited(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    who = clinical.headers(tenant, "ther-7", ("*", "therapist"), ("*", "compliance_officer"))
    foreign = {name: f"{name}-{uuid.uuid4().hex[:10]}" for name in ("note", "consent", "enc")}
    calls: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("GET", f"/notes/{foreign['note']}", None, "note"),
        ("DELETE", f"/notes/{foreign['note']}", None, "note"),
        ("POST", f"/consents/{foreign['consent']}/revoke", {}, "consent"),
        ("GET", f"/fhir/Encounter/{foreign['enc']}", None, "enc"),
    ]
    for method, path, body, _ in calls:
        got = await clinical.http.request(method, path, headers=who, json=body)
        assert got.status_code == 404, (path, got.text)

    def failed(envelopes: list[dict[str, Any]]) -> set[str]:
        return {
            str(e["data"]["resource_id"])
            for e in envelopes
            if e["tenantid"] == tenant and e["data"]["outcome"] == "failed"
        }

    expected = set(foreign.values())
    published = await clinical.events(
        "audit.access.v1", until=lambda seen: expected <= failed(seen)
    )
    assert expected <= failed(published)
