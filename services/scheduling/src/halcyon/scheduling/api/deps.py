"""What scheduling's routes take: the typed runtime, the scheduler, repositories.

The dependencies are ``async def``: FastAPI runs a plain ``def`` one in a worker thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from halcyon.scheduling import store
from halcyon.scheduling.settings import SchedulingRuntime
from halcyon.scheduling.usecases.booking import Scheduler
from halcyon.shared.service import repository, runtime_of


async def scheduling_runtime(request: Request) -> SchedulingRuntime:
    runtime: SchedulingRuntime = runtime_of(request)
    return runtime


Runtime = Annotated[SchedulingRuntime, Depends(scheduling_runtime)]


async def scheduler_of(runtime: Runtime) -> Scheduler:
    return Scheduler(runtime)


SchedulerDep = Annotated[Scheduler, Depends(scheduler_of)]
AppointmentsRepo = Annotated[store.Appointments, repository(store.Appointments)]
Directory = Annotated[store.ClientDirectory, repository(store.ClientDirectory)]
