"""Inventory's typed runtime: its settings, its long-lived parts, how it makes events."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar, cast

from halcyon.inventory.settings import InventorySettings
from halcyon.shared.events import MakeEvent
from halcyon.shared.mongo import Document
from halcyon.shared.service import ServiceRuntime


@dataclass
class ChainQueue:
    """The entries waiting to be appended to one chain, and the task appending them."""

    waiting: list[Any] = field(default_factory=list)
    appender: asyncio.Task[None] | None = None


class ChainTips:
    """This process's view of each ledger chain's last entry, and one appender per chain.

    Appends race on ``seq = head + 1`` under a unique index; concurrent dispenses on one
    registration used to re-read the head and retry until each won a round (O(n^2)
    attempts: 100 at once passed the gateway's timeout). Within a process one appender
    per chain takes every entry waiting for it and writes them as one ordered insert of
    consecutive sequence numbers (group commit), starting from the entry it wrote last
    instead of querying the head. Other instances still collide on the unique index,
    which re-reads the head, so the chain stays correct across processes; this only
    removes needless rounds.
    """

    def __init__(self) -> None:
        self._queues: dict[tuple[str, str], ChainQueue] = {}
        self._tips: dict[tuple[str, str], Document] = {}

    def queue(self, tenant: str, registration_id: str) -> ChainQueue:
        return self._queues.setdefault((tenant, registration_id), ChainQueue())

    def tip(self, tenant: str, registration_id: str) -> Document | None:
        return self._tips.get((tenant, registration_id))

    def remember(self, tenant: str, registration_id: str, entry: Document | None) -> None:
        if entry is None:
            self._tips.pop((tenant, registration_id), None)
        else:
            self._tips[(tenant, registration_id)] = entry


T = TypeVar("T")
_READ_FAILED = object()  # the shared read failed: each request reads for itself


class SharedReads:
    """Identical reads of concurrent requests, sent to the database once.

    A request joins a read of the same thing only when that read was sent *after* the
    request began, so what it gets is never older than a read of its own would have been
    (a record changed before the request began is seen changed). Nothing is kept once the
    read is answered: this coalesces, it does not cache. Each joiner gets its own copy.
    A burst of dispenses on one lot reads the lot, location, product, registration, site,
    staff and balance once per wave instead of once per request.
    """

    def __init__(self) -> None:
        self._flights: dict[Hashable, tuple[float, asyncio.Future[Any]]] = {}

    def request(self) -> RequestReads:
        """The reads of a request beginning now."""
        return RequestReads(self, time.monotonic())

    async def read(self, key: Hashable, began: float, fetch: Callable[[], Awaitable[T]]) -> T:
        flight = self._flights.get(key)
        if flight is not None and flight[0] >= began:
            shared = await asyncio.shield(flight[1])
            if shared is not _READ_FAILED:
                return cast("T", copy.deepcopy(shared))
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        mine = (time.monotonic(), answer)
        self._flights[key] = mine
        try:
            result = await fetch()
        except BaseException:
            answer.set_result(_READ_FAILED)
            raise
        else:
            answer.set_result(copy.deepcopy(result))
            return result
        finally:
            if self._flights.get(key) is mine:
                del self._flights[key]


@dataclass(frozen=True)
class RequestReads:
    """One request's view of ``SharedReads``: it joins only reads sent after it began."""

    shared: SharedReads
    began: float

    async def read(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        return await self.shared.read(key, self.began, fetch)


@dataclass
class InventoryParts:
    """What one inventory process keeps between requests."""

    # The process's chain tips, shared by every ledger writer of this instance.
    chain_tips: ChainTips = field(default_factory=ChainTips)
    # Identical reads of concurrent requests, sent once (never older than the request).
    shared_reads: SharedReads = field(default_factory=SharedReads)


InventoryRuntime = ServiceRuntime[InventorySettings, InventoryParts]


# ``runtime.event`` passed to the ledger writers and follow-ups as a function.
EventMaker: TypeAlias = MakeEvent
