"""What every scheduling router shares: roles, the scheduler dependency, audited guards."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request
from halcyon.scheduling.usecases.booking import Scheduler
from halcyon.shared.audit import AuditTrail
from halcyon.shared.auth import Caller
from halcyon.shared.errors import Forbidden
from halcyon.shared.service import runtime_of

SCHEDULERS = frozenset({"front_desk", "agency_admin", "therapist", "prescriber", "nurse"})
READERS = SCHEDULERS | {"compliance_officer", "biller"}
ADMINS = frozenset({"agency_admin"})
AGENCY_WIDE = "*"
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


def scheduler_of(request: Request) -> Scheduler:
    return Scheduler(runtime_of(request))


SchedulerDep = Annotated[Scheduler, Depends(scheduler_of)]


async def guarded(
    caller: Caller,
    roles: Iterable[str],
    site_id: str | None,
    audit: AuditTrail,
    request: Request,
    *,
    action: str,
    resource: str,
    resource_id: str | None = None,
    client_id: str | None = None,
) -> None:
    """Check role and site; a refusal touching a client is audited before the 403."""
    try:
        caller.require(roles, site_id)
    except Forbidden:
        if client_id is not None:
            await audit.record(
                caller,
                action=action,
                resource=resource,
                resource_id=resource_id,
                client_id=client_id,
                site_id=site_id,
                outcome="denied",
                request=request,
            )
        raise
