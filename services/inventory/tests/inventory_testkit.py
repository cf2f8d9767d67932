"""Test kit for inventory integration tests (imported by tests only, never by the service).

A site, its staff and a stocked Schedule I registration, all announced to inventory the
way identity and scheduling do: as events on the real Kafka broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from halcyon.shared.contracts import EventContract
from halcyon.shared.contracts.clinical import ConsentChanged, ScreeningCompleted
from halcyon.shared.contracts.identity import DeaRegistration, SiteChanged, StaffMemberChanged
from halcyon.shared.contracts.scheduling import AppointmentChanged, AppointmentClinician
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.mongo import Document
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.tokens import TestTokenIssuer
from halcyon.shared.testing.topics import read_envelopes
from pymongo import AsyncMongoClient

TODAY = datetime.now(UTC).date()
NEXT_YEAR = TODAY + timedelta(days=365)


async def publish(
    bootstrap: str, topic_prefix: str, tenant: str, events: Iterable[EventContract]
) -> list[str]:
    """Publish each event in its envelope to ``topic_prefix + Contract.topic``; event ids."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    ids = []
    try:
        for event in events:
            envelope = EventEnvelope.wrap(event, source="/halcyon/tests", tenant_id=tenant)
            await producer.send_and_wait(
                f"{topic_prefix}{event.topic}", envelope.to_bytes(), key=event.subject().encode()
            )
            ids.append(envelope.id)
    finally:
        await producer.stop()
    return ids


async def read_events(
    bootstrap: str, topic: str, want: int, within: float = 60.0
) -> list[EventEnvelope]:
    """Read at least ``want`` envelopes from the start of a topic."""
    return await read_envelopes(bootstrap, topic, want, within=within)


def appointment(
    appointment_id: str, site_id: str, client_id: str, staff: list[str], **changes: Any
) -> AppointmentChanged:
    start = datetime.now(UTC) - timedelta(minutes=10)
    fields: dict[str, Any] = {
        "appointment_id": appointment_id,
        "change": "checked_in",
        "status": "checked_in",
        "client_id": client_id,
        "site_id": site_id,
        "site_timezone": "America/Denver",
        "appointment_type": "mdma_dosing",
        "protocol_id": "mdma-ptsd",
        "protocol_step": "dosing",
        "starts_at": start,
        "ends_at": start + timedelta(hours=8),
        # An MDMA dosing session has its co-therapy dyad (ADR 0404): pad to two therapists.
        "clinicians": [
            AppointmentClinician(staff_id=s, role="therapist")
            for s in [*staff, "staff-co-therapist-1", "staff-co-therapist-2"][: max(2, len(staff))]
        ],
        **changes,
    }
    return AppointmentChanged(**fields)


def clearance(client_id: str, protocol_id: str = "mdma-ptsd") -> list[EventContract]:
    """What clinical tells inventory before a client may be dosed: an active informed
    consent and an eligible screening for the protocol (ADR 0403)."""
    signed = datetime.now(UTC) - timedelta(days=2)
    return [
        ConsentChanged(
            consent_id=f"consent-{client_id}-{protocol_id}",
            client_id=client_id,
            kind="psychedelic_informed",
            protocol_id=protocol_id,
            status="active",
            effective_at=signed,
        ),
        ScreeningCompleted(
            screening_id=f"screening-{client_id}-{protocol_id}",
            client_id=client_id,
            protocol_id=protocol_id,
            eligible=True,
            signed_by="staff-prescriber",
            signed_at=signed,
        ),
    ]


@dataclass
class Agency:
    """One agency with one site, its staff, and a stocked Schedule I registration."""

    url: str
    bootstrap: str
    topic_prefix: str
    database: str
    issuer: TestTokenIssuer
    mongo: AsyncMongoClient[Document]
    tenant: str = field(default_factory=lambda: f"agency-{uuid.uuid4().hex[:8]}")
    site: str = "site-denver"
    nurse: str = "staff-nurse"
    witness: str = "staff-witness"
    witness2: str = "staff-witness-2"
    prescriber: str = "staff-prescriber"
    lapsed_prescriber: str = "staff-lapsed-prescriber"
    officer: str = "staff-officer"
    registration_id: str = ""
    product_id: str = ""
    location_id: str = ""
    lot_id: str = ""
    ids: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str, *roles: str) -> dict[str, str]:
        return self.issuer.headers(
            tenant_id=self.tenant, user_id=user, roles=[(self.site, r) for r in roles]
        )

    @property
    def as_officer(self) -> dict[str, str]:
        return self.headers(self.officer, "compliance_officer", "agency_admin")

    @property
    def as_nurse(self) -> dict[str, str]:
        return self.headers(self.nurse, "nurse")

    def db(self) -> Any:
        return self.mongo[self.database]

    async def announce(self, events: list[EventContract], *, cleared: bool = True) -> list[str]:
        """Publish; a dosing appointment's client is first cleared (consent and eligible
        screening, as clinical would announce them) unless ``cleared=False``."""
        clients = {
            (e.client_id, e.protocol_id)
            for e in events
            if isinstance(e, AppointmentChanged) and e.protocol_id
        }
        if cleared and clients:
            facts = [f for c, p in sorted(clients) if p for f in clearance(c, p)]
            await publish(self.bootstrap, self.topic_prefix, self.tenant, facts)
            for collection in ("consents", "screenings"):
                await self.wait_for_docs(
                    collection, {"client_id": {"$in": [c for c, _ in clients]}}, len(clients)
                )
        return await publish(self.bootstrap, self.topic_prefix, self.tenant, events)

    async def wait_for_docs(self, collection: str, query: dict[str, Any], count: int) -> None:
        async def arrived() -> bool:
            found = await self.db()[collection].count_documents({"tenant_id": self.tenant, **query})
            return bool(found >= count)

        await eventually(arrived, within=60, message=f"{count} {collection} from Kafka")

    async def wait_processed(self, event_id: str) -> None:
        """Until inventory's consumer has handled (applied or knowingly skipped) the event."""

        async def handled() -> bool:
            marker = {"_id": {"$regex": f"^{event_id}:"}}
            return bool(await self.db()["processed_events"].count_documents(marker))

        await eventually(handled, within=60, message=f"event {event_id} handled")

    async def wait_for(self, collection: str, count: int) -> None:
        async def arrived() -> bool:
            found = await self.db()[collection].count_documents({"tenant_id": self.tenant})
            return bool(found >= count)

        await eventually(arrived, within=60, message=f"{count} {collection} from Kafka")

    def staff_events(self) -> list[EventContract]:
        def member(staff_id: str, role: str, dea: list[DeaRegistration] | None = None) -> Any:
            return StaffMemberChanged(
                staff_id=staff_id,
                display_name=staff_id.replace("staff-", "").replace("-", " ").title(),
                roles=[{"site": self.site, "role": role}],
                dea_registrations=dea or [],
            )

        return [
            member(self.nurse, "nurse"),
            member(self.witness, "nurse"),
            member(self.witness2, "therapist"),
            member(self.officer, "compliance_officer"),
            member(
                self.prescriber,
                "prescriber",
                [
                    DeaRegistration(
                        number="BP1234563",
                        schedules=["I", "II", "III", "IV", "V"],
                        expires_on=NEXT_YEAR,
                    )
                ],
            ),
            member(
                self.lapsed_prescriber,
                "prescriber",
                [
                    DeaRegistration(
                        number="BL7654321",
                        schedules=["I", "II", "III", "IV", "V"],
                        expires_on=TODAY - timedelta(days=3),
                    )
                ],
            ),
        ]

    async def set_up(self, http: httpx.AsyncClient, *, stock_mg: float = 800.0) -> None:
        """Identity's events, then registration → product → safe → lot → initial inventory
        → receipt on a Form 222."""
        site = SiteChanged(site_id=self.site, name="Denver", timezone="America/Denver")
        await self.announce([site, *self.staff_events()])
        await self.wait_for("staff", 6)
        await self.wait_for("sites", 1)
        self.registration_id = await self.create(
            http,
            "/registrations",
            {
                "site_id": self.site,
                "dea_number": "RD1234567",
                "registrant_name": "Halcyon Denver",
                "kind": "researcher",
                "schedules": ["I", "II", "III", "IV", "V"],
                "protocol_id": "mdma-ptsd",
                "expires_on": NEXT_YEAR.isoformat(),
            },
        )
        self.product_id = await self.create(
            http,
            "/products",
            {
                "substance": "MDMA",
                "schedule": "I",
                "form": "capsule",
                "strength_mg": 40,
                "units_per_container": 30,
                "low_stock_threshold_mg": 200,
            },
        )
        self.location_id = await self.create(
            http,
            "/locations",
            {
                "registration_id": self.registration_id,
                "name": "Pharmacy safe",
                "kind": "safe",
            },
        )
        self.lot_id = await self.new_lot(http, "MD-001", NEXT_YEAR)
        response = await http.post(
            f"/registrations/{self.registration_id}/inventories",
            json={"kind": "initial", "taken_at": "opening", "items": []},
            headers=self.as_officer,
        )
        assert response.status_code == 201, response.text
        if stock_mg:
            await self.receive(http, self.lot_id, stock_mg)

    async def create(self, http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
        response = await http.post(path, json=body, headers=self.as_officer)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def new_lot(
        self, http: httpx.AsyncClient, number: str, expires: date, product_id: str | None = None
    ) -> str:
        return await self.create(
            http,
            "/lots",
            {
                "product_id": product_id or self.product_id,
                "lot_number": number,
                "expires_on": expires.isoformat(),
                "supplier_name": "Research Supply Co",
                "supplier_dea_number": "RS7654321",
            },
        )

    async def receive(
        self,
        http: httpx.AsyncClient,
        lot_id: str,
        quantity: float | str,
        location_id: str | None = None,
    ) -> None:
        response = await http.post(
            "/receipts",
            json={
                "lot_id": lot_id,
                "location_id": location_id or self.location_id,
                "quantity_mg": quantity,
                "received_on": TODAY.isoformat(),
                "order_form_number": "CSOS-2026-000123",
            },
            headers=self.as_officer,
        )
        assert response.status_code == 201, response.text

    def dose(self, appointment_id: str, quantity: float = 80, **changes: Any) -> dict[str, Any]:
        return {
            "appointment_id": appointment_id,
            "lot_id": self.lot_id,
            "location_id": self.location_id,
            "quantity_mg": quantity,
            "administered_by": self.nurse,
            "witness_id": self.witness,
            "prescriber_id": self.prescriber,
            **changes,
        }

    async def balance(self) -> float:
        """The stored balance in mg (stored as exact micrograms, ADR 0502)."""
        return await self.balance_ug() / 1000

    async def balance_ug(self) -> int:
        doc = await self.db()["balances"].find_one(
            {"tenant_id": self.tenant, "_id": f"{self.lot_id}@{self.location_id}"}
        )
        return int(doc["qty_ug"]) if doc else 0
