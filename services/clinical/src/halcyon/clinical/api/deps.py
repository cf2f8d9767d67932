"""What clinical's routes take: the typed runtime, its parts, repositories, open charts.

Every dependency here is ``async def``: FastAPI runs a plain ``def`` one in a worker
thread, a thread hop per request for what is only a lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from halcyon.clinical.settings import ClinicalRuntime
from halcyon.clinical.store import ClientRepository
from halcyon.clinical.usecases.chart import Charts
from halcyon.clinical.usecases.group_sessions import GroupSessions
from halcyon.clinical.usecases.notes import EncounterNotes
from halcyon.shared.access import Access
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.service import repository, runtime_of


async def clinical_runtime(request: Request) -> ClinicalRuntime:
    runtime: ClinicalRuntime = runtime_of(request)
    return runtime


Runtime = Annotated[ClinicalRuntime, Depends(clinical_runtime)]


async def field_cipher(runtime: Runtime) -> FieldCipher:
    return runtime.parts.cipher


Cipher = Annotated[FieldCipher, Depends(field_cipher)]
Clients = Annotated[ClientRepository, repository(ClientRepository)]


async def charts_of(access: Access, clients: Clients) -> Charts:
    return Charts(access, clients)


ChartDoor = Annotated[Charts, Depends(charts_of)]


async def encounter_notes(runtime: Runtime, charts: ChartDoor) -> EncounterNotes:
    return EncounterNotes(runtime, charts)


NoteDesk = Annotated[EncounterNotes, Depends(encounter_notes)]


async def group_sessions(runtime: Runtime, charts: ChartDoor) -> GroupSessions:
    return GroupSessions(runtime, charts)


Steps = Annotated[GroupSessions, Depends(group_sessions)]
