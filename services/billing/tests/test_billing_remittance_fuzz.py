"""Fuzzing POST /remittances with 835 bytes mutated from the valid samples, through the billing
app in process (real Kafka and FerretDB behind it): every answer is 2xx, a 422 problem naming
the segment, or a 409 (a mutated amount under an interchange number already posted), never a
5xx (ADR 0604)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from halcyon.billing.app import wiring
from halcyon.billing.domain.remittance import read_835
from halcyon.billing.settings import BillingSettings
from halcyon.billing.usecases import remittances
from halcyon.shared.service import create_service_app
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.remit_835 import generate_835
from services.billing.tests.x12_835_support import valid_samples

pytestmark = [
    pytest.mark.integration,
    # The app's own threads (Kafka clients) use ``random`` while examples are drawn.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]
T = TypeVar("T")
VALID = list(valid_samples().values())


class InProcessBilling:
    """The billing app on an event loop of its own thread, so that hypothesis (synchronous)
    can drive it example by example."""

    def __init__(self, servers: Servers, issuer: TestTokenIssuer) -> None:
        unique = uuid.uuid4().hex[:10]
        self.settings = BillingSettings(
            environment="test",
            kafka_bootstrap=servers.kafka_bootstrap,
            mongo_url=servers.mongo_url,
            topic_prefix=f"f{unique}.",
            database_name=f"t_{unique}_billing",
            consumer_group=f"halcyon-billing-{unique}",
            jwt_public_key_pem=issuer.public_pem,
            topic_partitions=1,
        )
        self.tenant = f"agency-{unique}"
        self.headers = issuer.headers(tenant_id=self.tenant, roles=[("*", "biller")])
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.app = create_service_app(self.settings, wiring)
        self.lifespan: contextlib.AbstractAsyncContextManager[Any] | None = None
        self.http: httpx.AsyncClient | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    async def _start(self) -> None:
        self.lifespan = self.app.router.lifespan_context(self.app)
        await self.lifespan.__aenter__()
        # Claims of ours for every CLP01 of the samples: mutated files then also reach
        # claim updates, patient balances and the work queue, not only unmatched payments.
        claims = self.app.state.database["claims"]
        for number in sorted(claim_numbers()):
            await claims.insert_one(
                {
                    "_id": f"claim-{number}",
                    "tenant_id": self.tenant,
                    "claim_number": number,
                    "client_id": "cl-1",
                    "site_id": "site-1",
                    "payer": "payer-1",
                    "coverage_id": "cov-1",
                    "sequence": "P",
                    "service_date": "2026-11-02",
                    "charge_ids": [],
                    "lines": [],
                    "total_cents": 100000,
                    "paid_cents": 0,
                    "patient_responsibility_cents": 0,
                    "status": "submitted",
                }
            )
        transport = httpx.ASGITransport(app=self.app)
        self.http = httpx.AsyncClient(
            transport=transport, base_url="http://billing", headers=self.headers, timeout=60
        )

    async def _stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.lifespan is not None:
            await self.lifespan.__aexit__(None, None, None)

    def __enter__(self) -> InProcessBilling:
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *_: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    async def claims_paid(self) -> int:
        claims = self.app.state.database["claims"]
        return int(
            await claims.count_documents(
                {"tenant_id": self.tenant, "status": {"$in": ["paid", "denied"]}}
            )
        )

    def post(self, raw: bytes) -> httpx.Response:
        assert self.http is not None
        return self.run(self.http.post("/remittances", content=raw))


def claim_numbers() -> set[str]:
    numbers: set[str] = set()
    for raw in VALID:
        remittance = read_835(raw)
        numbers |= {c.patient_control_number for t in remittance.transactions for c in t.claims}
    return numbers


@pytest.fixture(scope="module")
def billing(servers: Servers, token_issuer: TestTokenIssuer) -> Iterator[InProcessBilling]:
    with InProcessBilling(servers, token_issuer) as app:
        yield app


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if kind == "flip":
            raw[at] = draw(st.sampled_from(list(b"*~:^09.-E_ X\n\x00\xff")))
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 6))]
        elif kind == "insert":
            raw[at:at] = draw(
                st.sampled_from([b"1E+30", b"~", b"*", b".999", b"9" * 27, "\u0663".encode()])
            )
        else:
            del raw[at:]
    return bytes(raw)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(raw=mutated())
def test_mutated_835s_get_2xx_or_422_never_5xx(billing: InProcessBilling, raw: bytes) -> None:
    response = billing.post(raw)
    event(f"HTTP {response.status_code}")
    assert response.status_code in (201, 409, 422), (response.status_code, response.text[:300])
    if response.status_code == 409:
        # Same file keys as a posting already stored, other amounts: refused, not merged.
        assert "already posted with other amounts" in response.json()["detail"]
    if response.status_code == 422:
        problem = response.json()
        assert problem["detail"]
        if problem["type"].endswith("/x12-not-understood"):
            assert f"segment {problem['segment']}" in problem["detail"]


def test_the_valid_samples_post_then_say_they_were_posted(billing: InProcessBilling) -> None:
    for raw in VALID:
        first = billing.post(raw)
        assert first.status_code == 201, first.text
        again = billing.post(raw)
        assert again.status_code == 201
        assert again.json()["already_ingested"] is True
    # Our claims were matched (so the fuzz reaches claim updates and balances too).
    assert billing.run(billing.claims_paid()) > 0


def test_a_large_835_does_not_block_other_requests(
    billing: InProcessBilling, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a large file takes seconds of CPU; meanwhile the service keeps answering.

    No stopwatch: the reader is made to wait, inside the read, until the service has
    answered another request. Read on a worker thread, that answer comes at once; read
    on the event loop, it never comes (the loop is busy in the read) and the wait runs
    out. (The file's last segment is wrong, so it is read whole, refused, and writes
    nothing.)"""
    raw = generate_835(0.5).replace(b"IEA*1*000000001~", b"IEA*1*000000002~")
    reading, answered = threading.Event(), threading.Event()
    waits: list[bool] = []

    def read_while_others_are_answered(data: bytes) -> Any:
        reading.set()
        waits.append(answered.wait(timeout=15))
        return read_835(data)

    monkeypatch.setattr(remittances, "read_835", read_while_others_are_answered)

    async def race() -> tuple[int, int]:
        assert billing.http is not None
        http = billing.http
        upload = asyncio.create_task(http.post("/remittances", content=raw))
        await asyncio.to_thread(reading.wait, 15)
        health = await http.get("/healthz")
        answered.set()
        return health.status_code, (await upload).status_code

    health, status = billing.run(race())
    assert status == 422
    assert health == 200
    assert waits == [True], "the read held the event loop: nothing else was answered"
