"""The ledger: every movement of a controlled substance, append-only and hash-chained."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from halcyon.inventory.api.common import (
    AUDITORS,
    DISPENSERS,
    HANDLERS,
    MANAGERS,
    READERS,
    Appointments,
    BalanceRepo,
    DeadlineRepo,
    DiscrepancyRepo,
    DosingRepo,
    LedgerRepo,
    PostingRepo,
    Record,
    RefusalsAudited,
    RegistrationRepo,
    Sites,
    Staff,
    StockPlace,
    audit_client_read,
    dose_ug,
    load,
    out,
    site_timezone,
    site_today,
    staff_at_site,
    stock_place,
    writer,
)
from halcyon.inventory.domain import dosing, rules
from halcyon.inventory.domain.anchors import public_key_text
from halcyon.inventory.domain.chain import (
    archive_seal,
    key_id,
    matches_its_hash,
    truncate_to_millis,
)
from halcyon.inventory.domain.deadlines import retained_until, site_date, within_retention
from halcyon.inventory.domain.jurisdiction import require_authorised_prescriber
from halcyon.inventory.domain.models import (
    AdjustmentIn,
    CountIn,
    DestructionIn,
    DispenseIn,
    InventoryIn,
    ReceiptIn,
    ReturnIn,
    TransferIn,
    WasteIn,
)
from halcyon.inventory.domain.quantities import mg_float, mg_text, mg_to_ug, units_text
from halcyon.inventory.domain.substances import registration_covers, route_of
from halcyon.inventory.store import Ledger, LedgerAnchors, Postings, Registrations
from halcyon.inventory.usecases.follow_ups import follow_up_count, open_discrepancy
from halcyon.inventory.usecases.gating import require_dose_conditions
from halcyon.inventory.usecases.ledger_integrity import (
    ChainNotIntact,
    anchor_head,
    checkpoint_of,
    verify_registration,
)
from halcyon.inventory.usecases.posting import (
    DosingClaim,
    EntryDraft,
    LedgerWriter,
    Movement,
    Posting,
    balance_id,
    entry_id,
    ledger_key,
)
from halcyon.shared.calendar import site_day
from halcyon.shared.contracts.inventory import DoseDispensed
from halcyon.shared.contracts.partner import (
    DoseAmount,
    RegistryDoseReported,
    RegistryDoseReportedV2,
)
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.errors import Conflict, InvalidCursor, RuleViolation
from halcyon.shared.http.deps import CurrentCaller, SecondFactor
from halcyon.shared.http.pagination import PageOut, PageParams, page_params
from halcyon.shared.mongo import Document, OutboxEvent
from halcyon.shared.partners import pseudonym
from halcyon.shared.service import Audit, Runtime
from pydantic import BaseModel, ConfigDict, Field
from uuid6 import uuid7

router = APIRouter(tags=["ledger"], dependencies=[SecondFactor], route_class=RefusalsAudited)
Writer = Annotated[LedgerWriter, Depends(writer)]
Page = Annotated[PageParams, Depends(page_params)]
SOURCE = "/halcyon/inventory"
DOSING_STATUSES = {"checked_in", "started"}


def movement(place: StockPlace, quantity_ug: int) -> Movement:
    return Movement(
        lot_id=place.lot["_id"],
        location_id=place.location["_id"],
        quantity_ug=quantity_ug,
        registration_id=place.registration["_id"],
        site_id=place.site_id,
        product_id=place.product["_id"],
        substance=place.product["substance"],
        low_stock_threshold_ug=int(place.product.get("low_stock_threshold_ug") or 0),
    )


def units(place: StockPlace, quantity_ug: int) -> str:
    return units_text(quantity_ug, int(place.product["strength_ug"]))


async def _place(
    runtime: Runtime, caller: CurrentCaller, lot_id: str, location_id: str, roles: set[str]
) -> StockPlace:
    place = await stock_place(runtime, caller.tenant_id, lot_id, location_id)
    caller.require(roles, place.site_id)
    return place


# -- receipt -----------------------------------------------------------------------------


@router.post(
    "/receipts",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Receive stock into a locked location",
)
async def receive(
    body: ReceiptIn,
    caller: CurrentCaller,
    runtime: Runtime,
    ledger_writer: Writer,
    ledger: LedgerRepo,
) -> Record:
    """21 CFR 1304.22(a)(2)(iv): number of units received, date of receipt, supplier name,
    address and DEA number; 21 CFR 1305.03: Schedule I-II only against a Form 222 / CSOS
    order; 21 CFR 1304.11(b): a new registration takes its initial inventory first."""
    place = await _place(runtime, caller, body.lot_id, body.location_id, HANDLERS | MANAGERS)
    registration_covers(
        place.registration,
        place.schedule,
        body.received_on,
        protocol_id=place.registration.get("protocol_id"),
    )
    rules.require_order_form(place.schedule, body.order_form_number)
    rules.require_secure_storage(place.schedule, place.location, place.registration)
    if not await has_initial_inventory(ledger, caller.tenant_id, place.registration):
        raise RuleViolation(
            "take the registration's initial inventory before receiving stock",
            rule="21 CFR 1304.11(b)",
        )
    op_id = str(uuid7())
    quantity = mg_to_ug(body.quantity_mg)
    entry = EntryDraft(
        place.registration["_id"],
        {
            "kind": "receipt",
            **place.describe(),
            "quantity_ug": quantity,
            "units": units(place, quantity),
            "received_on": body.received_on.isoformat(),
            "order_form_number": body.order_form_number,
            "supplier_name": place.lot["supplier_name"],
            "supplier_dea_number": place.lot["supplier_dea_number"],
            "recorded_by": caller.user_id,
        },
    )
    posting = Posting(op_id, caller.tenant_id, [entry], credits=[movement(place, quantity)])
    [saved] = await ledger_writer.post(posting)
    return out(saved)


# -- dispense for a dosing session -------------------------------------------------------


@router.post(
    "/dispenses",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Dispense/administer a dose for a dosing appointment",
)
async def dispense(
    body: DispenseIn,
    caller: CurrentCaller,
    runtime: Runtime,
    ledger_writer: Writer,
    appointments: Appointments,
    staff: Staff,
    dosing_sessions: DosingRepo,
    audit: Audit,
    request: Request,
    sites: Sites,
) -> Record:
    """21 CFR 1304.22(c): each dispensing records the substance, form and strength, the
    quantity, the person it was dispensed to, the date, and who administered it; 21 CFR
    1306.03: ordered by a practitioner with a current DEA registration for the schedule."""
    place = await _place(runtime, caller, body.lot_id, body.location_id, DISPENSERS)
    quantity = dose_ug(place.product, body.quantity_mg, body.quantity_ml)
    now = datetime.now(UTC)
    at = body.administered_at.astimezone(UTC) if body.administered_at else now
    if at > now + timedelta(minutes=5):
        raise RuleViolation("a dose cannot be recorded as administered in the future")
    appointment = await appointments.get(caller.tenant_id, body.appointment_id)
    if appointment is None:
        raise RuleViolation(
            f"scheduling has not told inventory about appointment {body.appointment_id}",
            field="appointment_id",
        )
    if appointment["site_id"] != place.site_id:
        raise RuleViolation("the appointment is at another site than this stock")
    if appointment["status"] not in DOSING_STATUSES:
        raise RuleViolation(
            f"the appointment is {appointment['status']}; doses are dispensed for a checked-in"
            " or started session"
        )
    await require_dose_conditions(runtime, caller, appointment, at, audit, request)
    # Expiry dates (lot, registrations) are the site's days, not UTC's.
    on = site_date(at, appointment.get("site_timezone"))
    protocol_id = appointment.get("protocol_id")
    registration_covers(place.registration, place.schedule, on, protocol_id=protocol_id)
    rules.require_unexpired_lot(place.lot, on)
    protocol = dosing.protocol_for(protocol_id, str(place.product["substance"]))
    await staff_at_site(
        staff,
        caller.tenant_id,
        body.administered_by,
        place.site_id,
        "administered_by",
        roles=DISPENSERS,
    )
    await staff_at_site(staff, caller.tenant_id, body.witness_id, place.site_id, "witness_id")
    if body.witness_id == body.administered_by:
        raise RuleViolation(
            "the witness must be someone other than who administers", field="witness_id"
        )
    prescriber = await staff_at_site(
        staff,
        caller.tenant_id,
        body.prescriber_id,
        place.site_id,
        "prescriber_id",
        roles={"prescriber"},
    )
    rules.require_active_prescriber(prescriber, place.schedule, on)
    site = await sites.get(caller.tenant_id, place.site_id)
    require_authorised_prescriber(site, prescriber, place.product["substance"], protocol_id, on)
    session = await dosing_sessions.get(caller.tenant_id, body.appointment_id)
    if body.supplemental:
        if session is None or "initial" not in session:
            raise RuleViolation("a supplemental dose follows an initial dose of this session")
        initial = dosing.GivenDose(
            int(session["initial"]["quantity_ug"]), session["initial"]["administered_at"]
        )
        dosing.check_supplemental_dose(protocol, initial, quantity, at)
    else:
        if session is not None:
            raise Conflict("this appointment already had its initial dose")
        dosing.check_initial_dose(protocol, quantity)

    op_id = str(uuid7())
    dispensed_id = entry_id(op_id, 0)
    event = DoseDispensed(
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
    envelope = EventEnvelope.wrap(event, source=SOURCE, tenant_id=caller.tenant_id)
    events = [OutboxEvent(envelope, DoseDispensed.topic)]
    if protocol_id:
        # Research registries get their own minimum-necessary event (ADR 0007), written
        # in the same single-document write as the ledger entry: v1 and, during v1's
        # deprecation period, v2 alongside it with the same report id (docs/partners.md).
        secret = runtime.settings.field_encryption_key
        v1 = RegistryDoseReported(
            # Keyed hash, not the ledger entry id: a UUIDv7 would tell the exact time.
            report_id=pseudonym(secret, caller.tenant_id, "registry", f"dose:{dispensed_id}"),
            participant=pseudonym(secret, caller.tenant_id, "registry", appointment["client_id"]),
            protocol_id=protocol_id,
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
        reports: list[RegistryDoseReported | RegistryDoseReportedV2] = [v1, v2]
        for report in reports:
            report_envelope = EventEnvelope.wrap(report, source=SOURCE, tenant_id=caller.tenant_id)
            events.append(OutboxEvent(report_envelope, report.topic))
    entry = EntryDraft(
        place.registration["_id"],
        {
            "kind": "dispense",
            **place.describe(),
            "quantity_ug": quantity,
            "units": units(place, quantity),
            "client_id": appointment["client_id"],
            "appointment_id": body.appointment_id,
            "protocol_id": protocol_id,
            "supplemental": body.supplemental,
            "administered_by": body.administered_by,
            "witness_id": body.witness_id,
            "prescriber_id": body.prescriber_id,
            "administered_at": at,
            "recorded_by": caller.user_id,
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
    posting = Posting(
        op_id, caller.tenant_id, [entry], debits=[movement(place, quantity)], dosing=claim
    )
    [saved] = await ledger_writer.post(posting)
    await audit.record(
        caller,
        action="create",
        resource="inventory/dispense",
        resource_id=dispensed_id,
        client_id=appointment["client_id"],
        site_id=place.site_id,
        request=request,
    )
    return out(saved)


# -- waste, destruction, return ----------------------------------------------------------


@router.post(
    "/wastes",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Waste part of a dose, witnessed by two others",
)
async def waste(
    body: WasteIn,
    caller: CurrentCaller,
    runtime: Runtime,
    ledger_writer: Writer,
    staff: Staff,
    ledger: LedgerRepo,
) -> Record:
    """21 CFR 1304.21(a) and 1317.95(d): wastage is recorded with quantity and method and
    witnessed by two authorised employees other than the person wasting."""
    place = await _place(runtime, caller, body.lot_id, body.location_id, HANDLERS)
    quantity = dose_ug(place.product, body.quantity_mg, body.quantity_ml)
    rules.require_two_witnesses(caller.user_id, body.witness_ids, "waste")
    if body.dispense_entry_id is not None:
        # Waste of a partly used dose names the dispense it came from, same lot.
        source = await ledger.get(caller.tenant_id, body.dispense_entry_id)
        if source is None or source["kind"] != "dispense" or source["lot_id"] != body.lot_id:
            raise RuleViolation(
                f"{body.dispense_entry_id} is not a dispense of lot {body.lot_id}",
                field="dispense_entry_id",
            )
    for witness in body.witness_ids:
        await staff_at_site(staff, caller.tenant_id, witness, place.site_id, "witness_ids")
    entry = EntryDraft(
        place.registration["_id"],
        {
            "kind": "waste",
            **place.describe(),
            "quantity_ug": quantity,
            "method": body.method,
            "reason": body.reason,
            "witness_ids": body.witness_ids,
            "dispense_entry_id": body.dispense_entry_id,
            "wasted_by": caller.user_id,
            "recorded_by": caller.user_id,
        },
    )
    op = Posting(
        str(uuid7()), caller.tenant_id, [entry], debits=[movement(place, entry.body["quantity_ug"])]
    )
    [saved] = await ledger_writer.post(op)
    return out(saved)


@router.post(
    "/destructions",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Destroy stock (DEA Form 41 data), witnessed by two others",
)
async def destroy(
    body: DestructionIn,
    caller: CurrentCaller,
    runtime: Runtime,
    ledger_writer: Writer,
    staff: Staff,
) -> Record:
    """21 CFR 1317.95 / 1304.21(e): destruction is recorded on DEA Form 41 — the substance,
    form, strength, quantity, method, date and place, and two witnesses who saw it."""
    place = await _place(runtime, caller, body.lot_id, body.location_id, MANAGERS | HANDLERS)
    rules.require_two_witnesses(caller.user_id, body.witness_ids, "destruction")
    for witness in body.witness_ids:
        await staff_at_site(staff, caller.tenant_id, witness, place.site_id, "witness_ids")
    entry = EntryDraft(
        place.registration["_id"],
        {
            "kind": "destruction",
            **place.describe(),
            "quantity_ug": mg_to_ug(body.quantity_mg),
            "method": body.method,
            "reason": body.reason,
            "destroyed_on": body.destroyed_on.isoformat(),
            "location_of_destruction": body.location_of_destruction,
            "witness_ids": body.witness_ids,
            "form_41_reference": body.form_41_reference,
            "destroyed_by": caller.user_id,
            "recorded_by": caller.user_id,
        },
    )
    op = Posting(
        str(uuid7()), caller.tenant_id, [entry], debits=[movement(place, entry.body["quantity_ug"])]
    )
    [saved] = await ledger_writer.post(op)
    return out(saved)


@router.post(
    "/returns",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Return stock to a supplier",
)
async def return_to_supplier(
    body: ReturnIn, caller: CurrentCaller, runtime: Runtime, ledger_writer: Writer
) -> Record:
    """21 CFR 1304.22(a)(2)(vii)-(ix) and 1305.03: distributions back to a supplier record
    quantity, date and the recipient's DEA number; Schedule I-II need a Form 222/CSOS."""
    place = await _place(runtime, caller, body.lot_id, body.location_id, HANDLERS | MANAGERS)
    rules.require_order_form(place.schedule, body.order_form_number)
    entry = EntryDraft(
        place.registration["_id"],
        {
            "kind": "return",
            **place.describe(),
            "quantity_ug": mg_to_ug(body.quantity_mg),
            "returned_to": body.returned_to,
            "returned_to_dea_number": body.returned_to_dea_number,
            "order_form_number": body.order_form_number,
            "recorded_by": caller.user_id,
        },
    )
    op = Posting(
        str(uuid7()), caller.tenant_id, [entry], debits=[movement(place, entry.body["quantity_ug"])]
    )
    [saved] = await ledger_writer.post(op)
    return out(saved)


# -- transfer between sites --------------------------------------------------------------


@router.post(
    "/transfers",
    status_code=status.HTTP_201_CREATED,
    response_model=list[Record],
    summary="Transfer stock to another site's registration (both ledgers record it)",
)
async def transfer(
    body: TransferIn,
    caller: CurrentCaller,
    runtime: Runtime,
    ledger_writer: Writer,
    ledger: LedgerRepo,
    sites: Sites,
) -> list[Record]:
    """21 CFR 1304.22(a)(2)(iv),(vii): the sender records the distribution and the receiver
    the receipt; 21 CFR 1305.03: Schedule I-II move between registrants on a Form 222/CSOS."""
    source = await _place(runtime, caller, body.lot_id, body.from_location_id, HANDLERS | MANAGERS)
    target = await stock_place(runtime, caller.tenant_id, body.lot_id, body.to_location_id)
    if source.registration["_id"] == target.registration["_id"]:
        raise RuleViolation("a transfer goes to another registration (another site)")
    on = await site_today(sites, caller.tenant_id, source.site_id)
    registration_covers(
        source.registration, source.schedule, on, protocol_id=source.registration.get("protocol_id")
    )
    registration_covers(
        target.registration, target.schedule, on, protocol_id=target.registration.get("protocol_id")
    )
    rules.require_order_form(source.schedule, body.order_form_number)
    rules.require_secure_storage(target.schedule, target.location, target.registration)
    if not await has_initial_inventory(ledger, caller.tenant_id, target.registration):
        raise RuleViolation(
            "the receiving registration takes its initial inventory before it receives stock",
            rule="21 CFR 1304.11(b)",
        )
    op_id = str(uuid7())
    out_id, in_id = entry_id(op_id, 0), entry_id(op_id, 1)
    quantity = mg_to_ug(body.quantity_mg)
    common: dict[str, Any] = {
        "quantity_ug": quantity,
        "order_form_number": body.order_form_number,
        "recorded_by": caller.user_id,
    }
    entries = [
        EntryDraft(
            source.registration["_id"],
            {
                "kind": "transfer_out",
                **source.describe(),
                **common,
                "to_site_id": target.site_id,
                "to_dea_number": target.registration["dea_number"],
                "to_location_id": target.location["_id"],
                "counterpart_entry_id": in_id,
            },
        ),
        EntryDraft(
            target.registration["_id"],
            {
                "kind": "transfer_in",
                **target.describe(),
                **common,
                "from_site_id": source.site_id,
                "from_dea_number": source.registration["dea_number"],
                "from_location_id": source.location["_id"],
                "counterpart_entry_id": out_id,
            },
        ),
    ]
    op = Posting(
        op_id,
        caller.tenant_id,
        entries,
        debits=[movement(source, quantity)],
        credits=[movement(target, quantity)],
    )
    return [out(e) for e in await ledger_writer.post(op)]


# -- adjustment --------------------------------------------------------------------------


@router.post(
    "/adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Adjust a balance (compliance officer only, with a reason)",
)
async def adjust(
    body: AdjustmentIn, caller: CurrentCaller, runtime: Runtime, ledger_writer: Writer
) -> Record:
    """21 CFR 1304.21(a): the book changes only through an accountable record."""
    place = await stock_place(runtime, caller.tenant_id, body.lot_id, body.location_id)
    rules.require_adjusting_role(caller.roles_at(place.site_id))
    delta = mg_to_ug(body.delta_mg)
    entry = EntryDraft(
        place.registration["_id"],
        {
            "kind": "adjustment",
            **place.describe(),
            "quantity_ug": abs(delta),
            "delta_ug": delta,
            "reason": body.reason,
            "discrepancy_id": body.discrepancy_id,
            "recorded_by": caller.user_id,
        },
    )
    moved = movement(place, abs(delta))
    op = Posting(
        str(uuid7()),
        caller.tenant_id,
        [entry],
        debits=[moved] if delta < 0 else [],
        credits=[moved] if delta > 0 else [],
    )
    [saved] = await ledger_writer.post(op)
    return out(saved)


# -- counts and inventories ---------------------------------------------------------------


class CountOut(BaseModel):
    entry: Record
    discrepancy: Record | None = None
    deadlines: list[Record] = []


@router.post(
    "/counts",
    status_code=status.HTTP_201_CREATED,
    response_model=CountOut,
    summary="Record an opening/closing count; a difference from the book opens a discrepancy",
)
async def count(
    body: CountIn,
    caller: CurrentCaller,
    runtime: Runtime,
    ledger_writer: Writer,
    balances: BalanceRepo,
    discrepancies: DiscrepancyRepo,
    deadlines: DeadlineRepo,
    sites: Sites,
) -> CountOut:
    """21 CFR 1304.11(e)(3): exact counts for Schedule I-II; 21 CFR 1301.76(b): a suspected
    theft or significant loss starts the DEA notice and Form 106 deadlines (on the site's
    day of the count, in business days without federal holidays)."""
    place = await _place(runtime, caller, body.lot_id, body.location_id, HANDLERS)
    rules.require_exact_count(
        place.schedule, body.estimated, int(place.product["units_per_container"])
    )
    balance = await balances.get(caller.tenant_id, balance_id(body.lot_id, body.location_id))
    book = int(balance["qty_ug"]) if balance else 0
    counted = mg_to_ug(body.counted_mg)
    entry = EntryDraft(
        place.registration["_id"],
        {
            "kind": "count",
            "count_kind": body.kind,
            **place.describe(),
            "book_ug": book,
            "counted_ug": counted,
            "difference_ug": counted - book,
            "estimated": body.estimated,
            "note": body.note,
            "counted_by": caller.user_id,
            "recorded_by": caller.user_id,
        },
    )
    op_id = str(uuid7())
    if counted != book:
        # The entry names its discrepancy (id derived from the operation), so a crash
        # before the discrepancy is recorded is repaired by the compliance sweep.
        entry.body["discrepancy_id"] = f"{op_id}-d"
        entry.body["suspected_theft_or_loss"] = body.suspected_theft_or_loss
    [saved] = await ledger_writer.post(Posting(op_id, caller.tenant_id, [entry]))
    zone = await site_timezone(sites, caller.tenant_id, place.site_id)
    discrepancy, started = await follow_up_count(
        discrepancies, deadlines, caller.tenant_id, saved, zone
    )
    return CountOut(
        entry=out(saved),
        discrepancy=out(discrepancy) if discrepancy else None,
        deadlines=[out(d) for d in started],
    )


@router.post(
    "/registrations/{registration_id}/inventories",
    status_code=status.HTTP_201_CREATED,
    response_model=CountOut,
    summary="Take the initial inventory of a new registration, or the biennial inventory",
)
async def take_inventory(
    registration_id: str,
    body: InventoryIn,
    caller: CurrentCaller,
    runtime: Runtime,
    ledger_writer: Writer,
    registrations: RegistrationRepo,
    balances: BalanceRepo,
    discrepancies: DiscrepancyRepo,
    deadlines: DeadlineRepo,
    ledger: LedgerRepo,
    postings: PostingRepo,
    sites: Sites,
) -> CountOut:
    """21 CFR 1304.11(b): an initial inventory when a registrant first handles controlled
    substances (zero if none on hand); 21 CFR 1304.11(c): a new one at least every two
    years; 21 CFR 1304.11(a),(e): date, opening/close of business, exact for I-II."""
    registration = await load(registrations, caller.tenant_id, registration_id, "registration")
    caller.require(MANAGERS | HANDLERS, registration["site_id"])
    places: list[StockPlace] = []
    for item in body.items:
        place = await stock_place(runtime, caller.tenant_id, item.lot_id, item.location_id)
        if place.registration["_id"] != registration_id:
            raise RuleViolation(f"location {item.location_id} belongs to another registration")
        rules.require_exact_count(
            place.schedule, item.estimated, int(place.product["units_per_container"])
        )
        places.append(place)
    on = await site_today(sites, caller.tenant_id, registration["site_id"])
    rows: list[dict[str, Any]] = []
    credits: list[Movement] = []
    for item, place in zip(body.items, places, strict=True):
        balance = await balances.get(caller.tenant_id, balance_id(item.lot_id, item.location_id))
        book = int(balance["qty_ug"]) if balance else 0
        counted = mg_to_ug(item.counted_mg)
        rows.append(
            {
                **place.describe(),
                "counted_ug": counted,
                "book_ug": book,
                "estimated": item.estimated,
            }
        )
        if body.kind == "initial" and counted > 0:
            credits.append(movement(place, counted))
    op_id = str(uuid7())
    if body.kind == "initial":
        await _claim_initial_inventory(
            registrations, ledger, postings, caller.tenant_id, registration_id, op_id, on
        )
    elif not await has_initial_inventory(ledger, caller.tenant_id, registration):
        raise RuleViolation("take the initial inventory first", rule="21 CFR 1304.11(b)")
    entry = EntryDraft(
        registration_id,
        {
            "kind": "inventory",
            "inventory_kind": body.kind,
            "site_id": registration["site_id"],
            "dea_number": registration["dea_number"],
            "registrant_name": registration["registrant_name"],
            "taken_on": on.isoformat(),
            "taken_at": body.taken_at,
            "items": rows,
            "recorded_by": caller.user_id,
        },
    )
    [saved] = await ledger_writer.post(Posting(op_id, caller.tenant_id, [entry], credits=credits))
    result = CountOut(entry=out(saved))
    if body.kind == "biennial":
        await registrations.update(
            caller.tenant_id,
            {"_id": registration_id},
            {"$set": {"last_inventory_on": on.isoformat()}},
        )
        # The inventory is taken: its tracked deadline (if the alert raised one) is met.
        while await deadlines.update(
            caller.tenant_id,
            {"registration_id": registration_id, "kind": "biennial_inventory", "status": "open"},
            {"$set": {"status": "done", "reference": saved["_id"], "done_at": datetime.now(UTC)}},
        ):
            pass
        for row in rows:
            if row["counted_ug"] != row["book_ug"]:
                d = await open_discrepancy(
                    discrepancies,
                    caller.tenant_id,
                    site_id=registration["site_id"],
                    registration_id=registration_id,
                    lot_id=row["lot_id"],
                    location_id=row["location_id"],
                    expected=row["book_ug"],
                    counted=row["counted_ug"],
                    suspected_theft_or_loss=False,
                    source_entry_id=saved["_id"],
                    opened_by=caller.user_id,
                )
                result.discrepancy = out(d)
    return result


INITIAL_CLAIM_GRACE = timedelta(minutes=2)


async def has_initial_inventory(ledger: Ledger, tenant_id: str, registration: Document) -> bool:
    """The initial inventory is taken when its ledger entry exists (the registration's
    claim alone could be one a crash cut off before the entry was written)."""
    op = registration.get("initial_inventory_op")
    if not op:
        return False
    return await ledger.get(tenant_id, entry_id(str(op), 0)) is not None


async def _claim_initial_inventory(
    registrations: Registrations,
    ledger: Ledger,
    postings: Postings,
    tenant_id: str,
    registration_id: str,
    op_id: str,
    on: date,
) -> None:
    """One initial inventory per registration (21 CFR 1304.11(b)): a compare-and-set on
    the registration names the operation that takes it. A claim whose operation never
    got its entry (crashed before it, or rolled back) may be taken over once it is old."""
    now = datetime.now(UTC)
    claim = {
        "initial_inventory_op": op_id,
        "initial_inventory_claimed_at": now,
        "initial_inventory_on": on.isoformat(),
        "last_inventory_on": on.isoformat(),
    }
    if await registrations.update(
        tenant_id, {"_id": registration_id, "initial_inventory_op": None}, {"$set": claim}
    ):
        return
    current = await registrations.get(tenant_id, registration_id)
    previous = (current or {}).get("initial_inventory_op")
    if previous and await ledger.get(tenant_id, entry_id(previous, 0)) is None:
        posting = await postings.get(tenant_id, previous)
        abandoned = posting is None or posting["state"] == "rolled_back"
        claimed_at = (current or {}).get("initial_inventory_claimed_at")
        stale = claimed_at is not None and claimed_at < now - INITIAL_CLAIM_GRACE
        if (
            abandoned
            and stale
            and await registrations.update(
                tenant_id,
                {"_id": registration_id, "initial_inventory_op": previous},
                {"$set": claim},
            )
        ):
            return
    raise Conflict("this registration already has its initial inventory")


# -- reading and verifying the ledger ------------------------------------------------------


@router.get(
    "/registrations/{registration_id}/ledger",
    response_model=PageOut[Record],
    summary="A registration's ledger entries",
)
async def list_ledger(
    registration_id: str,
    caller: CurrentCaller,
    registrations: RegistrationRepo,
    ledger: LedgerRepo,
    page: Page,
    audit: Audit,
    request: Request,
    include_archived: bool = False,
) -> PageOut[Record]:
    """In chain order (``seq``); entries archived after their retention period are left
    out unless asked for."""
    registration = await load(registrations, caller.tenant_id, registration_id, "registration")
    caller.require(READERS, registration["site_id"])
    try:
        result = await ledger.page_in_order(
            caller.tenant_id,
            registration_id,
            limit=page.limit,
            cursor=page.cursor,
            include_archived=include_archived,
        )
    except ValueError:
        raise InvalidCursor("use next_cursor from the previous page, unchanged") from None
    await audit_client_read(
        audit,
        caller,
        request,
        resource="inventory/ledger",
        resource_id=registration_id,
        client_ids=(d.get("client_id") for d in result.items),
        site_id=registration["site_id"],
    )
    return PageOut(items=[out(d) for d in result.items], next_cursor=result.next_cursor)


class BrokenEntry(BaseModel):
    entry_id: str
    seq: int
    reason: str


class ChainVerification(BaseModel):
    registration_id: str
    entries_checked: int
    anchors_checked: int = 0
    intact: bool
    head_seq: int = 0
    head_hash: str
    first_broken: BrokenEntry | None = None
    # Checkpoints whose signature is not this ledger's (forged or edited).
    forged_anchors: list[str] = []


class CheckpointsIn(BaseModel):
    """Checkpoint files an auditor kept, or copied from identity's anchor log."""

    model_config = ConfigDict(extra="forbid")
    checkpoints: list[dict[str, Any]] = Field(default_factory=list, max_length=10_000)


async def _verification(
    registration_id: str,
    caller: CurrentCaller,
    runtime: Runtime,
    registrations: Registrations,
    checkpoints: list[dict[str, Any]],
) -> ChainVerification:
    registration = await load(registrations, caller.tenant_id, registration_id, "registration")
    caller.require(AUDITORS, registration["site_id"])
    result = await verify_registration(
        runtime.repo(Ledger),
        runtime.repo(LedgerAnchors),
        caller.tenant_id,
        registration_id,
        ledger_key(runtime),
        checkpoints,
    )
    broken = result.first_break
    return ChainVerification(
        registration_id=registration_id,
        entries_checked=result.entries_checked,
        anchors_checked=result.anchors_checked,
        intact=result.intact,
        head_seq=result.head_seq,
        head_hash=result.head_hash,
        first_broken=BrokenEntry(entry_id=broken.entry_id, seq=broken.seq, reason=broken.reason)
        if broken
        else None,
        forged_anchors=result.forged_anchors,
    )


@router.get(
    "/registrations/{registration_id}/ledger/verify",
    response_model=ChainVerification,
    summary="Walk the keyed chain and compare it with its anchors; name the first bad entry",
)
async def verify_ledger(
    registration_id: str, caller: CurrentCaller, runtime: Runtime, registrations: RegistrationRepo
) -> ChainVerification:
    return await _verification(registration_id, caller, runtime, registrations, [])


@router.post(
    "/registrations/{registration_id}/ledger/verify",
    response_model=ChainVerification,
    summary="Verify the chain against checkpoint files kept outside inventory (auditors)",
)
async def verify_ledger_against(
    registration_id: str,
    body: CheckpointsIn,
    caller: CurrentCaller,
    runtime: Runtime,
    registrations: RegistrationRepo,
) -> ChainVerification:
    return await _verification(registration_id, caller, runtime, registrations, body.checkpoints)


@router.post(
    "/registrations/{registration_id}/ledger/anchors",
    response_model=dict[str, Any],
    summary="Anchor the chain's head now (identity's log and a signed checkpoint)",
)
async def anchor_now(
    registration_id: str, caller: CurrentCaller, runtime: Runtime, registrations: RegistrationRepo
) -> dict[str, Any]:
    registration = await load(registrations, caller.tenant_id, registration_id, "registration")
    caller.require(AUDITORS, registration["site_id"])
    try:
        anchor = await anchor_head(
            runtime.repo(LedgerAnchors), runtime.repo(Ledger), registration, ledger_key(runtime)
        )
    except ChainNotIntact as broken:
        raise Conflict(
            f"the chain does not verify at entry {broken.first_break.entry_id}"
            f" ({broken.first_break.reason}); it is not anchored",
            entry_id=broken.first_break.entry_id,
        ) from None
    if anchor is None:
        raise Conflict("the ledger has no entries to anchor yet")
    return checkpoint_of(anchor)


@router.get(
    "/registrations/{registration_id}/ledger/checkpoint",
    summary="Download the latest signed checkpoint of the chain (a file an auditor keeps)",
)
async def download_checkpoint(
    registration_id: str,
    caller: CurrentCaller,
    runtime: Runtime,
    registrations: RegistrationRepo,
    audit: Audit,
    request: Request,
) -> JSONResponse:
    checkpoint = await anchor_now(registration_id, caller, runtime, registrations)
    await audit.record(
        caller,
        action="export",
        resource="inventory/ledger-checkpoint",
        resource_id=registration_id,
        request=request,
    )
    name = f"ledger-checkpoint-{registration_id}-{checkpoint['seq']}.json"
    return JSONResponse(
        checkpoint, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    "/ledger/checkpoint-key",
    summary="The public key that checks checkpoint signatures (Ed25519, base64)",
)
async def checkpoint_key(caller: CurrentCaller, runtime: Runtime) -> dict[str, str]:
    caller.require(AUDITORS)
    key = ledger_key(runtime)
    return {"algorithm": "Ed25519", "public_key": public_key_text(key), "key_id": key_id(key)}


@router.delete(
    "/ledger/{entry_id}",
    response_model=Record,
    summary="Archive a ledger entry (refused for records younger than two years)",
)
async def archive_entry(
    entry_id: str,
    caller: CurrentCaller,
    runtime: Runtime,
    ledger: LedgerRepo,
    sites: Sites,
    audit: Audit,
    request: Request,
) -> Record:
    """21 CFR 1304.04(a): every record is kept and available for at least two years.
    Older entries are archived (hidden from day-to-day views), never physically removed,
    so the hash chain still verifies."""
    entry = await load(ledger, caller.tenant_id, entry_id, "ledger entry")
    caller.require(AUDITORS, entry.get("site_id"))
    if not matches_its_hash(entry, ledger_key(runtime)):
        raise Conflict(
            "this entry does not match its keyed hash (changed in the database); it is not"
            " archived: verify the ledger",
            entry_id=entry_id,
        )
    recorded_at: datetime = entry["recorded_at"]
    zone = await site_timezone(sites, caller.tenant_id, str(entry.get("site_id")))
    if within_retention(recorded_at, site_timezone=zone):
        keep_until = retained_until(recorded_at, zone)
        raise RuleViolation(
            f"ledger records are kept for two years: this one cannot be deleted or archived"
            f" before {keep_until} (the site's day)",
            rule="21 CFR 1304.04(a)",
        )
    archival = {
        "archived_at": truncate_to_millis(datetime.now(UTC)),
        "archived_by": caller.user_id,
    }
    # The archival fields get their own keyed seal: set directly in the database, they
    # would hide an entry from day-to-day views, and verification names that (ADR 0503).
    seal = archive_seal({**entry, **archival}, ledger_key(runtime))
    archived = await ledger.update(
        caller.tenant_id,
        {"_id": entry_id, "archived_at": {"$exists": False}},
        {"$set": {**archival, "archive_seal": seal}},
    )
    if archived is None:
        raise Conflict("the entry is already archived")
    # A change to a DEA record, and the response shows the client a dose went to.
    await audit.record(
        caller,
        action="delete",
        resource="inventory/ledger-entry",
        resource_id=entry_id,
        client_id=archived.get("client_id"),
        site_id=archived.get("site_id"),
        request=request,
    )
    return out(archived)
