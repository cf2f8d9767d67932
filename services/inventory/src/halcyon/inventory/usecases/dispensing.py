"""Dispensing a dose for a dosing session: check, post to the ledger, report, audit."""

from __future__ import annotations

from datetime import UTC, datetime

from halcyon.inventory.domain import dosing, rules
from halcyon.inventory.domain.deadlines import site_date
from halcyon.inventory.domain.dispensing import (
    administered_at,
    check_session_dose,
    require_dosing_appointment,
    require_independent_witness,
)
from halcyon.inventory.domain.jurisdiction import require_authorised_prescriber
from halcyon.inventory.domain.models import DispenseIn
from halcyon.inventory.domain.quantities import mg_float, mg_text
from halcyon.inventory.domain.roles import DISPENSERS
from halcyon.inventory.domain.stock import StockPlace, dose_ug, require_staff_at_site
from halcyon.inventory.domain.substances import registration_covers, route_of
from halcyon.inventory.runtime import InventoryRuntime, RequestReads
from halcyon.inventory.store import AppointmentBook, DosingSessions, SiteDirectory, StaffDirectory
from halcyon.inventory.usecases.gating import require_dose_conditions
from halcyon.inventory.usecases.posting import (
    DosingClaim,
    EntryDraft,
    Posting,
    entry_id,
    ledger_writer,
)
from halcyon.inventory.usecases.stock import (
    get_record,
    movement,
    open_stock_place,
    staff_members,
)
from halcyon.shared.access import RecordAccess
from halcyon.shared.calendar import site_day
from halcyon.shared.contracts import EventContract
from halcyon.shared.contracts.inventory import DoseDispensed
from halcyon.shared.contracts.partner import (
    DoseAmount,
    RegistryDoseReported,
    RegistryDoseReportedV2,
)
from halcyon.shared.mongo import Document, OutboxEvent
from halcyon.shared.partners import pseudonym
from uuid6 import uuid7

RESOURCE = "inventory/dispenses"


class Dispensing:
    """21 CFR 1304.22(c): each dispensing records the substance, form and strength, the
    quantity, the person it was dispensed to, the date, and who administered it; 21 CFR
    1306.03: ordered by a practitioner with a current DEA registration for the schedule."""

    def __init__(self, runtime: InventoryRuntime) -> None:
        self._runtime = runtime
        self._staff = runtime.repo(StaffDirectory)

    async def dispense(self, access: RecordAccess, body: DispenseIn) -> Document:
        runtime, tenant = self._runtime, access.tenant_id
        # Concurrent dispenses from one lot read the same lot, location, product,
        # registration, site, staff and balance: each read is sent once per wave.
        reads = runtime.parts.shared_reads.request()
        place = await open_stock_place(
            runtime,
            access,
            body.lot_id,
            body.location_id,
            DISPENSERS,
            resource=RESOURCE,
            reads=reads,
        )
        quantity = dose_ug(place.product, body.quantity_mg, body.quantity_ml)
        at = administered_at(body.administered_at, datetime.now(UTC))
        appointment = require_dosing_appointment(
            await runtime.repo(AppointmentBook).get(tenant, body.appointment_id),
            body.appointment_id,
            place.site_id,
        )
        await require_dose_conditions(
            runtime, access.caller, appointment, at, access.audit, access.request
        )
        protocol_id = appointment.get("protocol_id")
        await self._check(access, body, place, appointment, quantity, at, reads)
        op_id = str(uuid7())
        dispensed_id = entry_id(op_id, 0)
        events = self._events(access, body, place, appointment, quantity, at, dispensed_id)
        entry = EntryDraft(
            place.registration["_id"],
            {
                "kind": "dispense",
                **place.describe(),
                "quantity_ug": quantity,
                "units": place.units(quantity),
                "client_id": appointment["client_id"],
                "appointment_id": body.appointment_id,
                "protocol_id": protocol_id,
                "supplemental": body.supplemental,
                "administered_by": body.administered_by,
                "witness_id": body.witness_id,
                "prescriber_id": body.prescriber_id,
                "administered_at": at,
                "recorded_by": access.caller.user_id,
            },
            events,
        )
        claim = DosingClaim(
            appointment_id=body.appointment_id,
            kind="supplemental" if body.supplemental else "initial",
            quantity_ug=quantity,
            administered_at=at,
            entry_id=dispensed_id,
        )
        posting = Posting(op_id, tenant, [entry], debits=[movement(place, quantity)], dosing=claim)
        [saved] = await ledger_writer(runtime).post(posting, reads)
        await access.audit.record(
            access.caller,
            action="create",
            resource="inventory/dispense",
            resource_id=dispensed_id,
            client_id=appointment["client_id"],
            site_id=place.site_id,
            request=access.request,
        )
        return saved

    async def _check(
        self,
        access: RecordAccess,
        body: DispenseIn,
        place: StockPlace,
        appointment: Document,
        quantity: int,
        at: datetime,
        reads: RequestReads,
    ) -> None:
        """The registration, lot, people and protocol allow this dose on the site's day."""
        tenant = access.tenant_id
        # Expiry dates (lot, registrations) are the site's days, not UTC's.
        on = site_date(at, appointment.get("site_timezone"))
        protocol_id = appointment.get("protocol_id")
        registration_covers(place.registration, place.schedule, on, protocol_id=protocol_id)
        rules.require_unexpired_lot(place.lot, on)
        protocol = dosing.protocol_for(protocol_id, str(place.product["substance"]))
        # The three people in one read; each is then checked as before, in the same order.
        people = await staff_members(
            self._staff,
            tenant,
            [body.administered_by, body.witness_id, body.prescriber_id],
            reads,
        )
        require_staff_at_site(
            people.get(body.administered_by),
            body.administered_by,
            place.site_id,
            "administered_by",
            set(DISPENSERS),
        )
        require_staff_at_site(
            people.get(body.witness_id), body.witness_id, place.site_id, "witness_id"
        )
        require_independent_witness(body.witness_id, body.administered_by)
        prescriber = require_staff_at_site(
            people.get(body.prescriber_id),
            body.prescriber_id,
            place.site_id,
            "prescriber_id",
            {"prescriber"},
        )
        rules.require_active_prescriber(prescriber, place.schedule, on)
        site = await get_record(self._runtime.repo(SiteDirectory), tenant, place.site_id, reads)
        substance = place.product["substance"]
        require_authorised_prescriber(site, prescriber, substance, protocol_id, on)
        session = await self._runtime.repo(DosingSessions).get(tenant, body.appointment_id)
        check_session_dose(
            protocol, session, supplemental=body.supplemental, quantity_ug=quantity, at=at
        )

    def _events(
        self,
        access: RecordAccess,
        body: DispenseIn,
        place: StockPlace,
        appointment: Document,
        quantity: int,
        at: datetime,
        dispensed_id: str,
    ) -> list[OutboxEvent]:
        """``DoseDispensed``, and for a protocol the research registry's own reports."""
        dispensed = DoseDispensed(
            ledger_entry_id=dispensed_id,
            registration_id=place.registration["_id"],
            site_id=place.site_id,
            client_id=appointment["client_id"],
            appointment_id=body.appointment_id,
            substance=place.product["substance"],
            product_id=place.product["_id"],
            lot_id=place.lot["_id"],
            quantity_mg=mg_float(quantity),
            quantity_ug=quantity,
            supplemental=body.supplemental,
            administered_by=body.administered_by,
            witness_id=body.witness_id,
            prescriber_id=body.prescriber_id,
            administered_at=at,
        )
        contracts: list[EventContract] = [dispensed]
        if appointment.get("protocol_id"):
            contracts += self._registry_reports(
                access.tenant_id, body, place, appointment, quantity, at, dispensed_id
            )
        return [self._runtime.event(c, tenant_id=access.tenant_id) for c in contracts]

    def _registry_reports(
        self,
        tenant: str,
        body: DispenseIn,
        place: StockPlace,
        appointment: Document,
        quantity: int,
        at: datetime,
        dispensed_id: str,
    ) -> list[EventContract]:
        """Research registries get their own minimum-necessary event (ADR 0007), written
        in the same single-document write as the ledger entry: v1 and, during v1's
        deprecation period, v2 alongside it with the same report id (docs/partners.md)."""
        secret = self._runtime.settings.field_encryption_key
        v1 = RegistryDoseReported(
            # Keyed hash, not the ledger entry id: a UUIDv7 would tell the exact time.
            report_id=pseudonym(secret, tenant, "registry", f"dose:{dispensed_id}"),
            participant=pseudonym(secret, tenant, "registry", appointment["client_id"]),
            protocol_id=appointment["protocol_id"],
            substance=place.product["substance"],
            quantity_mg=mg_float(quantity),
            supplemental=body.supplemental,
            administered_on=site_day(at, appointment.get("site_timezone")),
        )
        v2 = RegistryDoseReportedV2(
            **v1.model_dump(exclude={"quantity_mg"}),
            dose=DoseAmount(amount=mg_text(quantity), unit="mg"),
            route=route_of(place.product["form"]),
        )
        return [v1, v2]
