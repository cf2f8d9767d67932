"""The ledger: every movement of a controlled substance, append-only and hash-chained."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from halcyon.inventory.api.common import AUDITORS, READERS, Record, RefusalsAudited, out
from halcyon.inventory.api.deps import Counts, Dispenses, LedgerBook, LedgerRepo, Movements, Page
from halcyon.inventory.domain.anchors import public_key_text
from halcyon.inventory.domain.chain import key_id
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
from halcyon.inventory.usecases.inventories import Counted
from halcyon.inventory.usecases.ledger_integrity import Verification
from halcyon.shared.access import Access
from halcyon.shared.errors import InvalidCursor
from halcyon.shared.http.deps import SecondFactor
from halcyon.shared.http.pagination import PageOut
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter(tags=["ledger"], dependencies=[SecondFactor], route_class=RefusalsAudited)


# -- receipt -----------------------------------------------------------------------------


@router.post(
    "/receipts",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Receive stock into a locked location",
)
async def receive(body: ReceiptIn, access: Access, movements: Movements) -> Record:
    """21 CFR 1304.22(a)(2)(iv): number of units received, date of receipt, supplier name,
    address and DEA number; 21 CFR 1305.03: Schedule I-II only against a Form 222 / CSOS
    order; 21 CFR 1304.11(b): a new registration takes its initial inventory first."""
    return out(await movements.receive(access, body))


# -- dispense for a dosing session -------------------------------------------------------


@router.post(
    "/dispenses",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Dispense/administer a dose for a dosing appointment",
)
async def dispense(body: DispenseIn, access: Access, dispensing: Dispenses) -> Record:
    """21 CFR 1304.22(c): each dispensing records the substance, form and strength, the
    quantity, the person it was dispensed to, the date, and who administered it; 21 CFR
    1306.03: ordered by a practitioner with a current DEA registration for the schedule."""
    return out(await dispensing.dispense(access, body))


# -- waste, destruction, return ----------------------------------------------------------


@router.post(
    "/wastes",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Waste part of a dose, witnessed by two others",
)
async def waste(body: WasteIn, access: Access, movements: Movements) -> Record:
    """21 CFR 1304.21(a) and 1317.95(d): wastage is recorded with quantity and method and
    witnessed by two authorised employees other than the person wasting."""
    return out(await movements.waste(access, body))


@router.post(
    "/destructions",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Destroy stock (DEA Form 41 data), witnessed by two others",
)
async def destroy(body: DestructionIn, access: Access, movements: Movements) -> Record:
    """21 CFR 1317.95 / 1304.21(e): destruction is recorded on DEA Form 41 — the substance,
    form, strength, quantity, method, date and place, and two witnesses who saw it."""
    return out(await movements.destroy(access, body))


@router.post(
    "/returns",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Return stock to a supplier",
)
async def return_to_supplier(body: ReturnIn, access: Access, movements: Movements) -> Record:
    """21 CFR 1304.22(a)(2)(vii)-(ix) and 1305.03: distributions back to a supplier record
    quantity, date and the recipient's DEA number; Schedule I-II need a Form 222/CSOS."""
    return out(await movements.return_to_supplier(access, body))


# -- transfer between sites --------------------------------------------------------------


@router.post(
    "/transfers",
    status_code=status.HTTP_201_CREATED,
    response_model=list[Record],
    summary="Transfer stock to another site's registration (both ledgers record it)",
)
async def transfer(body: TransferIn, access: Access, movements: Movements) -> list[Record]:
    """21 CFR 1304.22(a)(2)(iv),(vii): the sender records the distribution and the receiver
    the receipt; 21 CFR 1305.03: Schedule I-II move between registrants on a Form 222/CSOS."""
    return [out(e) for e in await movements.transfer(access, body)]


# -- adjustment --------------------------------------------------------------------------


@router.post(
    "/adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=Record,
    summary="Adjust a balance (compliance officer only, with a reason)",
)
async def adjust(body: AdjustmentIn, access: Access, movements: Movements) -> Record:
    """21 CFR 1304.21(a): the book changes only through an accountable record."""
    return out(await movements.adjust(access, body))


# -- counts and inventories ---------------------------------------------------------------


class CountOut(BaseModel):
    entry: Record
    discrepancy: Record | None = None
    deadlines: list[Record] = []

    @classmethod
    def of(cls, counted: Counted) -> CountOut:
        return cls(
            entry=out(counted.entry),
            discrepancy=out(counted.discrepancy) if counted.discrepancy else None,
            deadlines=[out(d) for d in counted.deadlines],
        )


@router.post(
    "/counts",
    status_code=status.HTTP_201_CREATED,
    response_model=CountOut,
    summary="Record an opening/closing count; a difference from the book opens a discrepancy",
)
async def count(body: CountIn, access: Access, counts: Counts) -> CountOut:
    """21 CFR 1304.11(e)(3): exact counts for Schedule I-II; 21 CFR 1301.76(b): a suspected
    theft or significant loss starts the DEA notice and Form 106 deadlines (on the site's
    day of the count, in business days without federal holidays)."""
    return CountOut.of(await counts.count(access, body))


@router.post(
    "/registrations/{registration_id}/inventories",
    status_code=status.HTTP_201_CREATED,
    response_model=CountOut,
    summary="Take the initial inventory of a new registration, or the biennial inventory",
)
async def take_inventory(
    registration_id: str, body: InventoryIn, access: Access, counts: Counts
) -> CountOut:
    """21 CFR 1304.11(b): an initial inventory when a registrant first handles controlled
    substances (zero if none on hand); 21 CFR 1304.11(c): a new one at least every two
    years; 21 CFR 1304.11(a),(e): date, opening/close of business, exact for I-II."""
    return CountOut.of(await counts.take(access, registration_id, body))


# -- reading and verifying the ledger ------------------------------------------------------


@router.get(
    "/registrations/{registration_id}/ledger",
    response_model=PageOut[Record],
    summary="A registration's ledger entries",
)
async def list_ledger(
    registration_id: str,
    access: Access,
    book: LedgerBook,
    ledger: LedgerRepo,
    page: Page,
    include_archived: bool = False,
) -> PageOut[Record]:
    """In chain order (``seq``); entries archived after their retention period are left
    out unless asked for."""
    resource = "inventory/registrations/{registration_id}/ledger"
    registration = await book.registration(access, registration_id, READERS, resource)
    try:
        result = await ledger.page_in_order(
            access.tenant_id,
            registration_id,
            limit=page.limit,
            cursor=page.cursor,
            include_archived=include_archived,
        )
    except ValueError:
        raise InvalidCursor("use next_cursor from the previous page, unchanged") from None
    await access.audit.record_reads(
        access.caller, resource="inventory/ledger", resource_id=registration_id,
        client_ids=(d.get("client_id") for d in result.items),
        site_id=registration["site_id"], request=access.request,
    )  # fmt: skip
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

    @classmethod
    def of(cls, registration_id: str, result: Verification) -> ChainVerification:
        broken = result.first_break
        return cls(
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


class CheckpointsIn(BaseModel):
    """Checkpoint files an auditor kept, or copied from identity's anchor log."""

    model_config = ConfigDict(extra="forbid")
    checkpoints: list[dict[str, Any]] = Field(default_factory=list, max_length=10_000)


@router.get(
    "/registrations/{registration_id}/ledger/verify",
    response_model=ChainVerification,
    summary="Walk the keyed chain and compare it with its anchors; name the first bad entry",
)
async def verify_ledger(
    registration_id: str, access: Access, book: LedgerBook
) -> ChainVerification:
    return ChainVerification.of(registration_id, await book.verify(access, registration_id))


@router.post(
    "/registrations/{registration_id}/ledger/verify",
    response_model=ChainVerification,
    summary="Verify the chain against checkpoint files kept outside inventory (auditors)",
)
async def verify_ledger_against(
    registration_id: str, body: CheckpointsIn, access: Access, book: LedgerBook
) -> ChainVerification:
    result = await book.verify(access, registration_id, body.checkpoints)
    return ChainVerification.of(registration_id, result)


@router.post(
    "/registrations/{registration_id}/ledger/anchors",
    response_model=dict[str, Any],
    summary="Anchor the chain's head now (identity's log and a signed checkpoint)",
)
async def anchor_now(registration_id: str, access: Access, book: LedgerBook) -> dict[str, Any]:
    return await book.anchor(access, registration_id)


@router.get(
    "/registrations/{registration_id}/ledger/checkpoint",
    summary="Download the latest signed checkpoint of the chain (a file an auditor keeps)",
)
async def download_checkpoint(
    registration_id: str, access: Access, book: LedgerBook
) -> JSONResponse:
    checkpoint = await book.anchor(access, registration_id)
    await access.audit.record(
        access.caller,
        action="export",
        resource="inventory/ledger-checkpoint",
        resource_id=registration_id,
        request=access.request,
    )
    name = f"ledger-checkpoint-{registration_id}-{checkpoint['seq']}.json"
    return JSONResponse(
        checkpoint, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    "/ledger/checkpoint-key",
    summary="The public key that checks checkpoint signatures (Ed25519, base64)",
)
async def checkpoint_key(access: Access, book: LedgerBook) -> dict[str, str]:
    await access.require(AUDITORS, None, action="read", resource="inventory/ledger/checkpoint-key")
    key = book.key
    return {"algorithm": "Ed25519", "public_key": public_key_text(key), "key_id": key_id(key)}


@router.delete(
    "/ledger/{entry_id}",
    response_model=Record,
    summary="Archive a ledger entry (refused for records younger than two years)",
)
async def archive_entry(entry_id: str, access: Access, book: LedgerBook) -> Record:
    """21 CFR 1304.04(a): every record is kept and available for at least two years.
    Older entries are archived (hidden from day-to-day views), never physically removed,
    so the hash chain still verifies."""
    return out(await book.archive(access, entry_id))
