"""Inventory's typed runtime: its settings, its long-lived parts, how it makes events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TypeAlias

from halcyon.inventory.settings import InventorySettings
from halcyon.shared.events import MakeEvent
from halcyon.shared.mongo import Document
from halcyon.shared.service import ServiceRuntime


class ChainTips:
    """This process's view of each ledger chain's last entry, and one appender per chain.

    Appends race on ``seq = head + 1`` under a unique index; concurrent dispenses on one
    registration used to re-read the head and retry until each won a round (O(n^2)
    attempts: 100 at once passed the gateway's timeout). Within a process they now take
    turns, and the next one starts from the entry just written instead of querying the
    head. Other instances still collide on the unique index, which re-reads the head,
    so the chain stays correct across processes; this only removes needless rounds.
    """

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._tips: dict[tuple[str, str], Document] = {}

    def lock(self, tenant: str, registration_id: str) -> asyncio.Lock:
        return self._locks.setdefault((tenant, registration_id), asyncio.Lock())

    def tip(self, tenant: str, registration_id: str) -> Document | None:
        return self._tips.get((tenant, registration_id))

    def remember(self, tenant: str, registration_id: str, entry: Document | None) -> None:
        if entry is None:
            self._tips.pop((tenant, registration_id), None)
        else:
            self._tips[(tenant, registration_id)] = entry


@dataclass
class InventoryParts:
    """What one inventory process keeps between requests."""

    # The process's chain tips, shared by every ledger writer of this instance.
    chain_tips: ChainTips = field(default_factory=ChainTips)


InventoryRuntime = ServiceRuntime[InventorySettings, InventoryParts]


# ``runtime.event`` passed to the ledger writers and follow-ups as a function.
EventMaker: TypeAlias = MakeEvent
