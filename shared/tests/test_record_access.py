"""The one access check (shared.access): what a caller is let through, and what is audited."""

from __future__ import annotations

from typing import Any, cast

import pytest
from halcyon.shared.access import RecordAccess
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller, RoleGrant
from halcyon.shared.errors import Forbidden, NotFound
from halcyon.shared.mongo import Document, TenantRepository


class RecordedAudit:
    """Stands in for the audit trail: keeps what would be published."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def record(self, caller: Caller, **fields: Any) -> None:
        self.events.append({"user_id": caller.user_id, **fields})


class Records:
    def __init__(self, docs: dict[tuple[str, str], Document]) -> None:
        self.docs = docs

    async def get(self, tenant_id: str, record_id: Any) -> Document | None:
        return self.docs.get((tenant_id, record_id))


NOTE = {"_id": "note-1", "client_id": "client-1", "site_id": "north"}
RECORDS = Records({("agency-a", "note-1"): NOTE})


def access_for(caller: Caller) -> tuple[RecordAccess, RecordedAudit]:
    audit = RecordedAudit()
    return RecordAccess(caller=caller, audit=cast(AuditTrail, audit)), audit


def therapist_at(site: str, *, tenant: str = "agency-a", emergency: tuple[str, ...] = ()) -> Caller:
    return Caller(
        user_id="u-1",
        tenant_id=tenant,
        grants=(RoleGrant(site_id=site, role="therapist"),),
        emergency_clients=emergency,
    )


async def open_note(
    access: RecordAccess, action: str = "read", *, emergency_read: bool = True
) -> Document:
    return await access.open(
        cast(TenantRepository, RECORDS),
        "note-1",
        {"therapist"},
        action=action,
        resource="note",
        what="note",
        emergency_read=emergency_read,
    )


async def test_the_role_at_the_records_site_opens_it_and_audits_nothing() -> None:
    access, audit = access_for(therapist_at("north"))
    assert (await open_note(access))["_id"] == "note-1"
    assert audit.events == []


async def test_another_agencys_record_is_not_found_and_audited_as_failed() -> None:
    access, audit = access_for(therapist_at("north", tenant="agency-b"))
    with pytest.raises(NotFound) as missing:
        await open_note(access)
    assert missing.value.audited  # a route-wide auditor must not record it again
    [event] = audit.events
    assert event["outcome"] == "failed"
    assert event["resource_id"] == "note-1"


async def test_the_role_at_another_site_is_refused_and_audited_as_denied() -> None:
    access, audit = access_for(therapist_at("south"))
    with pytest.raises(Forbidden) as refused:
        await open_note(access)
    assert refused.value.audited
    [event] = audit.events
    assert event["outcome"] == "denied"
    assert event["client_id"] == "client-1"
    assert event["site_id"] == "north"


async def test_break_the_glass_opens_a_clients_record_for_reading_only() -> None:
    access, audit = access_for(therapist_at("south", emergency=("client-1",)))
    assert (await open_note(access, "read"))["_id"] == "note-1"
    with pytest.raises(Forbidden):
        await open_note(access, "update")
    assert [e["outcome"] for e in audit.events] == ["denied"]


async def test_break_the_glass_opens_only_what_asks_for_it() -> None:
    # Billing's ledger or a schedule is not the chart: a grant does not open them.
    access, audit = access_for(therapist_at("south", emergency=("client-1",)))
    with pytest.raises(Forbidden):
        await open_note(access, "read", emergency_read=False)
    assert [e["outcome"] for e in audit.events] == ["denied"]


async def test_break_the_glass_needs_the_role_somewhere() -> None:
    nobody = Caller(
        user_id="u-2",
        tenant_id="agency-a",
        grants=(RoleGrant(site_id="south", role="biller"),),
        emergency_clients=("client-1",),
    )
    access, audit = access_for(nobody)
    with pytest.raises(Forbidden):
        await open_note(access)
    assert [e["outcome"] for e in audit.events] == ["denied"]


async def test_a_client_record_is_audited_under_its_own_id() -> None:
    clients = Records({("agency-a", "client-9"): {"_id": "client-9", "site_id": "north"}})
    access, audit = access_for(therapist_at("south"))
    with pytest.raises(Forbidden):
        await access.open(
            cast(TenantRepository, clients),
            "client-9",
            {"therapist"},
            action="read",
            resource="client",
            record_is_client=True,
        )
    [event] = audit.events
    assert event["client_id"] == "client-9"
    assert event["resource_id"] is None


async def test_require_at_a_known_site_audits_a_refusal() -> None:
    access, audit = access_for(therapist_at("north"))
    await access.require({"therapist"}, "north", action="create", resource="note")
    with pytest.raises(Forbidden):
        await access.require(
            {"therapist"}, "south", action="create", resource="note", client_id="client-1"
        )
    [event] = audit.events
    assert event["outcome"] == "denied"
    assert event["site_id"] == "south"


async def test_a_record_inside_a_chart_is_named_in_the_audit_entry() -> None:
    clients = Records({("agency-a", "client-9"): {"_id": "client-9", "site_id": "north"}})
    for caller, error in (
        (therapist_at("south"), Forbidden),
        (therapist_at("north", tenant="agency-b"), NotFound),
    ):
        access, audit = access_for(caller)
        with pytest.raises(error):
            await access.open(
                cast(TenantRepository, clients),
                "client-9",
                {"therapist"},
                action="read",
                resource="note",
                record_is_client=True,
                resource_id="note-7",
            )
        [event] = audit.events
        assert event["resource_id"] == "note-7"
        assert event["client_id"] == "client-9"


async def test_a_client_is_checked_at_their_home_site() -> None:
    clients = Records({("agency-a", "client-3"): {"_id": "client-3", "home_site_id": "north"}})
    repo = cast(TenantRepository, clients)
    access, audit = access_for(therapist_at("north"))
    doc = await access.open_client(repo, "client-3", {"therapist"}, action="read", resource="c")
    assert doc["_id"] == "client-3"
    elsewhere, audit = access_for(therapist_at("south"))
    with pytest.raises(Forbidden):
        await elsewhere.open_client(repo, "client-3", {"therapist"}, action="read", resource="c")
    [event] = audit.events
    assert (event["site_id"], event["client_id"]) == ("north", "client-3")
