"""Anchoring each ledger chain's head and verifying a chain against its anchors (ADR 0503)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from halcyon.inventory.domain.anchors import (
    anchored_at_text,
    checkpoints_of_tenant,
    compare_with_anchors,
    sign_checkpoint,
)
from halcyon.inventory.domain.chain import ChainBreak, key_id, verify_chain
from halcyon.inventory.runtime import EventMaker
from halcyon.inventory.store import Ledger, LedgerAnchors
from halcyon.shared.contracts.inventory import LedgerAnchored
from halcyon.shared.mongo import Document, DuplicateRecord

log = logging.getLogger("halcyon.inventory.anchoring")


class ChainNotIntact(Exception):
    """The chain does not verify: anchoring it would vouch for a tampered ledger."""

    def __init__(self, first_break: ChainBreak) -> None:
        super().__init__(first_break.reason)
        self.first_break = first_break


def checkpoint_of(anchor: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint file as an auditor keeps it (no database bookkeeping)."""
    return {k: v for k, v in anchor.items() if k not in {"_id", "_outbox", "site_id"}}


async def anchor_head(
    anchors: LedgerAnchors,
    ledger: Ledger,
    registration: Document,
    key: bytes,
    events: EventMaker,
) -> Document | None:
    """Anchor the chain's current head, unless its latest anchor already names it.

    The chain is verified first: a broken chain is never anchored. The anchor id is
    derived from the head, so instances anchoring at once write one anchor."""
    tenant = str(registration["tenant_id"])
    registration_id = str(registration["_id"])
    entries = await ledger.chain(tenant, registration_id)
    if not entries:
        return None
    report = verify_chain(entries, key)
    if report.first_break is not None:
        raise ChainNotIntact(report.first_break)
    # A chain shortened (or rewritten) since it was last anchored verifies in itself; a
    # fresh checkpoint of it would vouch for the truncated ledger, so compare first.
    stored = await anchors.of_registration(tenant, registration_id)
    against = compare_with_anchors(
        entries, [checkpoint_of(a) for a in stored], key, registration_id
    )
    if against.first_break is not None:
        raise ChainNotIntact(against.first_break)
    head = entries[-1]
    latest = await anchors.latest(tenant, registration_id)
    if latest and latest["seq"] == head["seq"] and latest["head_hash"] == head["hash"]:
        return latest
    anchor_id = f"{registration_id}:{head['seq']}"
    checkpoint = sign_checkpoint(
        {
            "anchor_id": anchor_id,
            "tenant_id": tenant,
            "registration_id": registration_id,
            "dea_number": registration["dea_number"],
            "seq": int(head["seq"]),
            "entry_id": str(head["_id"]),
            "head_hash": head["hash"],
            "anchored_at": anchored_at_text(datetime.now(UTC)),
            "key_id": key_id(key),
        },
        key,
    )
    event = LedgerAnchored(
        **{k: v for k, v in checkpoint.items() if k != "tenant_id"},
        site_id=registration["site_id"],
    )
    doc = {"_id": anchor_id, **checkpoint, "site_id": registration["site_id"]}
    try:
        return await anchors.insert(tenant, doc, [events(event, tenant_id=tenant)])
    except DuplicateRecord:
        return await anchors.get(tenant, anchor_id)


async def anchor_everywhere(
    registrations: Iterable[Document],
    anchors: LedgerAnchors,
    ledger: Ledger,
    key: bytes,
    events: EventMaker,
) -> int:
    """The periodic pass: every registration's head, anchored if it moved."""
    anchored = 0
    for registration in registrations:
        try:
            if await anchor_head(anchors, ledger, registration, key, events) is not None:
                anchored += 1
        except ChainNotIntact as broken:
            log.error(
                "ledger of registration %s does not verify (entry %s: %s); not anchored",
                registration["_id"],
                broken.first_break.entry_id,
                broken.first_break.reason,
            )
    return anchored


@dataclass(frozen=True)
class Verification:
    entries_checked: int
    anchors_checked: int
    head_seq: int
    head_hash: str
    first_break: ChainBreak | None
    forged_anchors: list[str]

    @property
    def intact(self) -> bool:
        return self.first_break is None and not self.forged_anchors


async def verify_registration(
    ledger: Ledger,
    anchors: LedgerAnchors,
    tenant_id: str,
    registration_id: str,
    key: bytes,
    checkpoints: Iterable[Mapping[str, Any]] = (),
) -> Verification:
    """The keyed chain walked entry by entry, then compared with inventory's anchors and
    with the checkpoints an auditor brings (from identity's log or kept files). The
    earliest disagreement is named."""
    entries = await ledger.chain(tenant_id, registration_id)
    chain = verify_chain(entries, key)
    stored = await anchors.of_registration(tenant_id, registration_id)
    # A checkpoint names its tenant (signed); one copied without it is read as this one's.
    brought = checkpoints_of_tenant(checkpoints, tenant_id)
    against = compare_with_anchors(
        entries, [*(checkpoint_of(a) for a in stored), *brought], key, registration_id
    )
    breaks = [b for b in (chain.first_break, against.first_break) if b is not None]
    first = min(breaks, key=lambda b: b.seq) if breaks else None
    return Verification(
        entries_checked=chain.entries_checked,
        anchors_checked=against.anchors_checked,
        head_seq=chain.head_seq,
        head_hash=chain.head_hash,
        first_break=first,
        forged_anchors=against.forged,
    )
