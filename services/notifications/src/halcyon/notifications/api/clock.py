"""The controllable clock (HALCYON_ENVIRONMENT=test only): reminders, quiet hours and
retries all read it, so a test can move 'now' and watch them happen."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from halcyon.notifications.api.common import ADMINS, Strict
from halcyon.notifications.api.deps import Clock, Worker
from halcyon.notifications.clock import ServiceClock
from halcyon.shared.access import Access
from halcyon.shared.errors import NotFound
from halcyon.shared.http.deps import current_caller
from pydantic import BaseModel, field_validator

router = APIRouter(tags=["testing"])


class ClockIn(Strict):
    now: datetime

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("now must carry a time zone")
        return value


class ClockOut(BaseModel):
    now: datetime
    controllable: bool


def _controllable(clock: ServiceClock) -> ServiceClock:
    if not clock.controllable:
        raise NotFound("the test clock exists only in the test environment")
    return clock


# Any signed-in caller may read the clock: the dependency only checks the token.
@router.get("/admin/test-clock", response_model=ClockOut, dependencies=[Depends(current_caller)])
async def read_clock(clock: Clock) -> ClockOut:
    return ClockOut(now=_controllable(clock).now(), controllable=True)


@router.put(
    "/admin/test-clock",
    response_model=ClockOut,
    summary="Set the service's 'now' (reminders, quiet hours, retries); test only",
)
async def set_clock(body: ClockIn, access: Access, clock: Clock, worker: Worker) -> ClockOut:
    _controllable(clock)
    await access.require(ADMINS, None, action="update", resource="notifications/test-clock")
    await clock.set_now(body.now)
    worker.wake()
    return ClockOut(now=clock.now(), controllable=True)
