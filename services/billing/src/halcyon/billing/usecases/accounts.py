"""The client's account: the ledger is what the balance is made of; a client payment is a
ledger entry and its ``PaymentPosted`` event in one write, then the payment record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from halcyon.billing.runtime import BillingRuntime, Events
from halcyon.billing.statements import render_statement
from halcyon.billing.store import Ledger, Payments
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.billing import PaymentPosted
from uuid6 import uuid7

# A statement lists at most this many lines; older activity is in the paginated ledger.
STATEMENT_LINES = 500


@dataclass(frozen=True)
class ClientPayment:
    amount_cents: int
    method: str
    reference: str | None = None


class ClientAccounts:
    def __init__(self, ledger: Ledger, payments: Payments, events: Events) -> None:
        self.ledger = ledger
        self.payments = payments
        self.events = events

    @classmethod
    def of(cls, runtime: BillingRuntime) -> ClientAccounts:
        return cls(runtime.repo(Ledger), runtime.repo(Payments), runtime)

    async def balance(self, tenant: str, client_id: str) -> int:
        entries = await self.ledger.find(tenant, {"client_id": client_id})
        return sum(int(e["amount_cents"]) for e in entries)

    async def take_payment(
        self, caller: Caller, client_id: str, payment: ClientPayment
    ) -> dict[str, Any]:
        """Record what the client paid; returns the payment id and the balance after it."""
        tenant = caller.tenant_id
        payment_id = f"cp:{uuid7()}"
        now = datetime.now(UTC)
        event = PaymentPosted(
            payment_id=payment_id,
            client_id=client_id,
            amount_cents=payment.amount_cents,
            source="client",
        )
        # The ledger entry is what the balance is made of: it and the event are one write.
        await self.ledger.insert(
            tenant,
            {
                "_id": f"led:{payment_id}",
                "client_id": client_id,
                "amount_cents": -payment.amount_cents,
                "description": f"payment ({payment.method})",
                "reference": payment_id,
                "posted_at": now,
            },
            [self.events.event(event, tenant_id=tenant)],
        )
        await self.payments.insert(
            tenant,
            {
                "_id": payment_id,
                "kind": "client_payment",
                "client_id": client_id,
                "amount_cents": payment.amount_cents,
                "method": payment.method,
                "reference": payment.reference,
                "posted_at": now,
                "posted_by": caller.user_id,
            },
        )
        return {"id": payment_id, "balance_cents": await self.balance(tenant, client_id)}

    async def statement(self, tenant: str, client: dict[str, Any], on: date) -> bytes:
        """The client's statement as PDF: the ledger's lines and the balance."""
        client_id = str(client["_id"])
        entries = await self.ledger.find(
            tenant, {"client_id": client_id}, sort=(("posted_at", 1),), limit=STATEMENT_LINES
        )
        return render_statement(
            agency=tenant,
            client_name=f"{client['given_name']} {client['family_name']}",
            client_id=client_id,
            entries=entries,
            balance_cents=await self.balance(tenant, client_id),
            on=on,
        )
