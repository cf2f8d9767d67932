"""Access tokens revoked before they expire: an in-memory list fed from Kafka.

Identity publishes ``AccessRevoked`` (topic ``identity.access-revoked.v1``) when a person
signs out, is deactivated, has their roles changed or their authenticator reset. Every
service process and the gateway read that topic *each on its own* (no consumer group: every
process must see every revocation) into a :class:`RevocationList`, and refuse a token whose
session is on it. An entry lives only as long as the longest access token it can stop, so
the list stays small; at start-up the reader seeks back one token lifetime, so a process
that restarts still knows every revocation that matters. ADR 0104.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.identity import AccessRevoked
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.errors import Unauthenticated

log = logging.getLogger("halcyon.revocation")

# How far back a starting reader looks: longer than any access token lives (15 min by
# default, break-the-glass 30 min), so nothing still valid was revoked before that.
LOOKBACK_SECONDS = 3600


class TokenRevoked(Unauthenticated):
    slug, title = "token-revoked", "This session has ended"


@dataclass
class RevocationList:
    """Revoked sessions, each until the last access token it could hold expires.

    Sessions rather than users: a person signing in again right after being revoked
    (new roles, new authenticator) gets a new session that must work at once.
    """

    # session id -> epoch seconds after which no access token of it is valid anyway
    sessions: dict[str, float] = field(default_factory=dict)

    def apply(self, event: AccessRevoked, now: float | None = None) -> None:
        now = time.time() if now is None else now
        until = event.expires_at.timestamp()
        if until <= now:
            return
        for session in event.session_ids:
            self.sessions[session] = max(until, self.sessions.get(session, 0.0))
        self._forget_expired(now)

    def _forget_expired(self, now: float) -> None:
        for session in [s for s, until in self.sessions.items() if until <= now]:
            del self.sessions[session]

    def is_revoked(self, caller: Caller, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return bool(caller.session_id) and self.sessions.get(caller.session_id or "", 0.0) > now

    def refuse_if_revoked(self, caller: Caller) -> None:
        if self.is_revoked(caller):
            raise TokenRevoked("this session was signed out or revoked; sign in again")

    def __len__(self) -> int:
        return len(self.sessions)


class RevocationListener:
    """Reads every partition of the revocation topic into a list, from one lifetime ago."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        revocations: RevocationList,
        *,
        lookback_seconds: float = LOOKBACK_SECONDS,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self.revocations = revocations
        self._lookback = lookback_seconds
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="revocation-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka away: keep the list we have, try again
                log.warning("revocation reader stopped (%s); retrying", exc)
                if self._consumer is not None:
                    with contextlib.suppress(Exception):
                        await self._consumer.stop()
                    self._consumer = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,  # every process reads everything
            enable_auto_commit=False,
            client_id=f"revocations-{uuid.uuid4().hex[:8]}",
            fetch_max_wait_ms=100,
        )
        self._consumer = consumer
        await consumer.start()
        partitions: set[int] | None = None
        for _ in range(100):
            partitions = consumer.partitions_for_topic(self._topic)
            if partitions:
                break
            await consumer._client.force_metadata_update()  # topic may be created just now
            await asyncio.sleep(0.2)
        if not partitions:
            raise KafkaError(f"topic {self._topic} has no partitions yet")
        assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        since = int((time.time() - self._lookback) * 1000)
        offsets = await consumer.offsets_for_times(dict.fromkeys(assigned, since))
        for tp in assigned:
            found = offsets.get(tp)
            if found is None:
                await consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, found.offset)
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in batch.values():
                for record in records:
                    self._apply(record.value)

    def _apply(self, value: bytes | None) -> None:
        if not value:
            return
        try:
            envelope = EventEnvelope.from_bytes(value)
            event = AccessRevoked.model_validate(envelope.data)
        except Exception as exc:  # a bad message must not stop revocations behind it
            log.warning("unreadable revocation skipped: %s", exc)
            return
        self.revocations.apply(event)
