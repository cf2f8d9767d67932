"""A refusal is audited once: RecordAccess audits its own (``denied`` / ``failed``), and
the route class audits every other refusal as ``denied``."""

from __future__ import annotations

from typing import Any, cast

import pytest
from halcyon.shared.access import RecordAccess
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller, RoleGrant
from halcyon.shared.errors import DomainError, Forbidden, NotFound, RuleViolation
from halcyon.shared.mongo import Document, TenantRepository


class RecordedAudit:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def record(self, caller: Caller, **fields: Any) -> None:
        self.events.append({"user_id": caller.user_id, **fields})


class NoRecords:
    async def get(self, tenant_id: str, record_id: Any) -> Document | None:
        return None


NURSE = Caller(user_id="u-1", tenant_id="t", grants=(RoleGrant(site_id="north", role="nurse"),))


def access() -> tuple[RecordAccess, RecordedAudit]:
    audit = RecordedAudit()
    return RecordAccess(caller=NURSE, audit=cast(AuditTrail, audit)), audit


async def test_refusals_of_record_access_are_known_as_audited() -> None:
    checker, audit = access()
    with pytest.raises(Forbidden) as denied:
        await checker.require({"compliance_officer"}, "north", action="create", resource="r")
    with pytest.raises(NotFound) as missing:
        await checker.open(
            cast(TenantRepository, NoRecords()), "x", {"nurse"}, action="read", resource="r"
        )
    assert [e["outcome"] for e in audit.events] == ["denied", "failed"]
    assert denied.value.audited
    assert missing.value.audited


def test_other_refusals_are_left_to_the_route_class() -> None:
    def refuse() -> None:
        raise RuleViolation("no")

    with pytest.raises(DomainError) as refused:
        refuse()
    assert not refused.value.audited
