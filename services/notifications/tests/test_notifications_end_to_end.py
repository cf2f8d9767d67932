"""Email, reminders and the staff inbox, end to end on the real servers.

Events go to the real Kafka; the notifications service runs as its own process; emails
go over real SMTP to the dev sink (its own process), which the test reads back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from halcyon.shared.contracts import EventContract
from halcyon.shared.contracts.billing import ClaimStatusChanged
from halcyon.shared.contracts.clinical import (
    ClientRegistered,
    SafetyAlertRaised,
    VitalsAlertRaised,
)
from halcyon.shared.contracts.identity import CredentialExpiring, SiteChanged, StaffMemberChanged
from halcyon.shared.contracts.inventory import ComplianceDeadlineDue, DiscrepancyOpened, StockLow
from halcyon.shared.contracts.notifications import DeliveryStatusChanged
from halcyon.shared.contracts.scheduling import (
    AppointmentChanged,
    AppointmentClinician,
    WaitlistOfferMade,
)
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.processes import free_port
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.tokens import TestTokenIssuer
from pymongo import AsyncMongoClient

from tests.fixtures import StartService

pytestmark = pytest.mark.integration

SITE = "site-1"
DENVER = "America/Denver"
CLINICAL_WORDS = [
    "mdma",
    "psilocybin",
    "ketamine",
    "dosing",
    "dose",
    "ptsd",
    "diagnosis",
    "psychedelic",
    "protocol",
]


class Bus:
    """Publishes events to the real Kafka as the other services' outbox relays would."""

    def __init__(
        self, producer: AIOKafkaProducer, bootstrap: str, prefix: str, tenant: str
    ) -> None:
        self.producer, self.bootstrap, self.prefix, self.tenant = (
            producer,
            bootstrap,
            prefix,
            tenant,
        )

    async def publish(self, contract: EventContract) -> EventEnvelope:
        envelope = EventEnvelope.wrap(contract, source="/halcyon/tests", tenant_id=self.tenant)
        await self.send_raw(contract.topic, envelope)
        return envelope

    async def send_raw(self, topic: str, envelope: EventEnvelope) -> None:
        await self.producer.send_and_wait(
            f"{self.prefix}{topic}", envelope.to_bytes(), key=envelope.subject.encode()
        )


@pytest_asyncio.fixture
async def notifications_bus(servers: Servers, topic_prefix: str, unique: str) -> AsyncIterator[Bus]:
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        yield Bus(producer, servers.kafka_bootstrap, topic_prefix, f"agency-{unique}")
    finally:
        await producer.stop()


def appointment(
    appointment_id: str, client_id: str, change: str, starts_at: datetime, version: int
) -> AppointmentChanged:
    return AppointmentChanged(
        appointment_id=appointment_id,
        change=change,
        status="cancelled" if change == "cancelled" else "booked",
        client_id=client_id,
        site_id=SITE,
        site_timezone=DENVER,
        appointment_type="mdma_dosing",
        protocol_id="mdma-ptsd",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=8),
        clinicians=[AppointmentClinician(staff_id="clin-1", role="therapist")],
        version=version,
    )


def client(client_id: str, email: str) -> ClientRegistered:
    return ClientRegistered(
        client_id=client_id,
        home_site_id=SITE,
        given_name="Robin",
        family_name="Vale",
        date_of_birth=date(1985, 3, 4),
        preferred_language="en",
        email=email,
        timezone=DENVER,
    )


async def delivery_statuses(bus: Bus, delivery_id: str, *, until: str) -> list[str]:
    """The DeliveryStatusChanged events of one delivery, read from the real Kafka topic."""
    consumer = AIOKafkaConsumer(
        f"{bus.prefix}{DeliveryStatusChanged.topic}",
        bootstrap_servers=bus.bootstrap,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[str] = []
    try:

        async def reached() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    data = json.loads(record.value)["data"]
                    if data["delivery_id"] == delivery_id:
                        seen.append(data["status"])
            return until in seen

        await eventually(reached, interval=0, message=f"{until} on the delivery topic")
    finally:
        await consumer.stop()
    return seen


async def mails(sink_url: str, to: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sink_url) as http:
        response = await http.get("/messages", params={"to": to})
        return list(response.json())


def local(at: datetime) -> str:
    return at.astimezone(ZoneInfo(DENVER)).strftime("%Y-%m-%d %H:%M")


async def test_confirmation_reminders_cancellation_restart_and_vitals_inbox(
    start_service: StartService,
    notifications_bus: Bus,
    token_issuer: TestTokenIssuer,
) -> None:
    bus = notifications_bus
    tenant = bus.tenant
    smtp_port = free_port()
    sink = start_service(
        "devsmtp",
        app="halcyon.notifications.devsmtp:app",
        HALCYON_DEVSMTP_SMTP_PORT=str(smtp_port),
    )
    service = start_service(
        "notifications",
        HALCYON_NOTIFICATIONS_SMTP_PORT=str(smtp_port),
        HALCYON_NOTIFICATIONS_WORKER_POLL_SECONDS="0.2",
    )
    admin = token_issuer.headers(tenant_id=tenant, user_id="admin-1", roles=[("*", "agency_admin")])
    clinician = token_issuer.headers(tenant_id=tenant, user_id="clin-1", roles=[(SITE, "nurse")])
    http = httpx.AsyncClient(base_url=service.url, timeout=10.0)

    await bus.publish(
        StaffMemberChanged(
            staff_id="admin-1",
            display_name="Ada Admin",
            email="admin@agency.test",
            roles=[{"site": "*", "role": "agency_admin"}],
        )
    )
    await bus.publish(
        StaffMemberChanged(
            staff_id="clin-1",
            display_name="Noor Nurse",
            email="noor@agency.test",
            roles=[{"site": SITE, "role": "nurse"}],
            on_call_sites=[SITE],
        )
    )
    robin, kim = "robin@example.test", "kim@example.test"
    await bus.publish(client("client-1", robin))
    await bus.publish(client("client-2", kim))

    async def known(client_id: str) -> bool:
        response = await http.get(f"/clients/{client_id}/preferences", headers=admin)
        return response.status_code == 200

    await eventually(lambda: known("client-1"), message="client-1 known")
    await eventually(lambda: known("client-2"), message="client-2 known")

    # -- a booking on Kafka becomes a confirmation the SMTP server receives --------------
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    first_start, moved_start = now + timedelta(days=3), now + timedelta(days=5)
    booked = await bus.publish(appointment("appt-A", "client-1", "booked", first_start, 1))

    async def subjects(to: str, word: str) -> list[dict[str, Any]]:
        return [m for m in await mails(sink.url, to) if word in m["subject"]]

    [confirmation] = await eventually(
        lambda: subjects(robin, "booked"), message="booking confirmation received by SMTP"
    )
    assert local(first_start) in confirmation["text"]

    # -- the same event delivered again sends nothing more --------------------------------
    await bus.send_raw(AppointmentChanged.topic, booked)
    # Same appointment, same partition: once the move is confirmed, the duplicate was seen.
    await bus.publish(appointment("appt-A", "client-1", "rescheduled", moved_start, 2))
    [moved] = await eventually(lambda: subjects(robin, "moved"), message="move confirmed")
    assert local(moved_start) in moved["text"]
    assert len(await subjects(robin, "booked")) == 1

    # -- a cancelled appointment's reminders are removed ----------------------------------
    await bus.publish(appointment("appt-B", "client-1", "booked", now + timedelta(days=4), 1))
    await bus.publish(appointment("appt-B", "client-1", "cancelled", now + timedelta(days=4), 2))
    await eventually(lambda: subjects(robin, "cancelled"), message="cancellation confirmed")
    reminders_b = (await http.get("/appointments/appt-B/reminders", headers=admin)).json()
    assert {r["status"] for r in reminders_b} == {"cancelled"}
    reminders_a = (await http.get("/appointments/appt-A/reminders", headers=admin)).json()
    due_24h = {r["kind"]: r for r in reminders_a}["24h"]
    assert datetime.fromisoformat(due_24h["due_at"]) == moved_start - timedelta(hours=24)

    # A canary appointment whose 2 h reminder is due just before appt-A's 24 h one.
    canary_start = moved_start - timedelta(hours=22, minutes=2)
    await bus.publish(appointment("appt-C", "client-2", "booked", canary_start, 1))
    await eventually(lambda: subjects(kim, "booked"), message="canary booked")

    # -- reminders are documents: a restart loses none ------------------------------------
    service.restart().wait_ready()

    # One minute before appt-A's (moved) 24 h reminder is due: only the canary's go out.
    async def set_clock(at: datetime) -> None:
        response = await http.put("/admin/test-clock", json={"now": at.isoformat()}, headers=admin)
        assert response.status_code == 200, response.text

    await set_clock(moved_start - timedelta(hours=24, minutes=1))
    await eventually(lambda: _count(subjects(kim, "Reminder"), 2), message="canary reminders")
    assert await subjects(robin, "Reminder") == []  # not early, and not at the old time

    # One minute after: exactly one reminder, naming the new time.
    await set_clock(moved_start - timedelta(hours=24) + timedelta(minutes=1))
    [reminder] = await eventually(lambda: subjects(robin, "Reminder"), message="24h reminder")
    assert local(moved_start) in reminder["text"]
    assert local(first_start) not in reminder["text"]
    assert {
        r["status"]
        for r in (await http.get("/appointments/appt-B/reminders", headers=admin)).json()
    } == {"cancelled"}

    # -- nothing clinical in any message to a client ----------------------------------------
    for message in await mails(sink.url, robin) + await mails(sink.url, kim):
        whole = f"{message['subject']} {message['text']} {message['html']}".lower()
        assert not [w for w in CLINICAL_WORDS if w in whole], message

    # -- a vitals alert reaches the on-call clinician's inbox -----------------------------
    await bus.publish(
        VitalsAlertRaised(
            alert_id="alert-1",
            client_id="client-1",
            site_id=SITE,
            reading_id="r-1",
            measured_at=datetime.now(UTC),
            breaches=["systolic 172 > 160 mmHg"],
        )
    )

    async def inbox(headers: dict[str, str]) -> list[dict[str, Any]]:
        response = await http.get("/inbox", headers=headers)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    [alert] = await eventually(lambda: inbox(clinician), message="vitals alert in inbox")
    assert "systolic 172" in alert["body"]
    assert alert["severity"] == "urgent"
    assert (await http.get("/inbox/unread-count", headers=clinician)).json() == {"unread": 1}
    assert [i for i in await inbox(admin) if i["kind"] == "vitals_alert"] == []
    # Nobody else can read or mark someone's message.
    assert (await http.post(f"/inbox/{alert['id']}/read", headers=admin)).status_code == 404
    read = await http.post(f"/inbox/{alert['id']}/read", headers=clinician)
    assert read.status_code == 200
    assert read.json()["read_at"]
    assert (await http.get("/inbox/unread-count", headers=clinician)).json() == {"unread": 0}
    # ...and their preferred channel (email) says only that there is an alert.
    [email_alert] = await eventually(
        lambda: mails(sink.url, "noor@agency.test"), message="vitals alert email"
    )
    assert "client-1" not in email_alert["text"]
    assert "172" not in email_alert["text"]

    # -- the unsubscribe link in an email opts the client out ----------------------------
    link = next(w for w in confirmation["text"].split() if "/unsubscribe/" in w)
    token = link.rsplit("/", 1)[1]
    assert (await http.get(f"/unsubscribe/{token}")).status_code == 200
    prefs = (await http.get("/clients/client-1/preferences", headers=admin)).json()
    assert prefs["opted_out"] is True
    assert prefs["history"][-1]["via"] == "unsubscribe-link"
    await bus.publish(appointment("appt-D", "client-1", "booked", now + timedelta(days=9), 1))

    async def suppressed() -> list[dict[str, Any]]:
        response = await http.get(
            "/deliveries",
            params={"recipient_id": "client-1", "status": "suppressed"},
            headers=admin,
        )
        return list(response.json()["items"])

    [held] = await eventually(suppressed, message="booking after opt-out suppressed")
    assert held["rule"] == "appointment_booked"
    assert len(await subjects(robin, "booked")) == 2  # appt-A and appt-B, not appt-D
    await http.aclose()


async def _count(probe: Any, want: int) -> bool:
    return len(await probe) >= want


# -- SMS: quiet hours, receipts, retries, dead letters, STOP -------------------------------
NEW_YORK = ZoneInfo("America/New_York")
PHONE = "+15550101234"


async def test_sms_quiet_hours_receipts_retries_dead_letter_and_stop(
    start_service: StartService,
    notifications_bus: Bus,
    token_issuer: TestTokenIssuer,
) -> None:
    bus = notifications_bus
    tenant = bus.tenant
    provider = start_service("devsms", app="halcyon.notifications.devsms:app")
    service = start_service(
        "notifications",
        HALCYON_NOTIFICATIONS_SMS_PROVIDER_URL=provider.url,
        HALCYON_NOTIFICATIONS_WORKER_POLL_SECONDS="0.2",
        HALCYON_NOTIFICATIONS_MAX_ATTEMPTS="3",
        HALCYON_NOTIFICATIONS_RETRY_BASE_SECONDS="0.2",
    )
    sms = httpx.AsyncClient(base_url=provider.url, timeout=10.0)
    # As one configures it in a real provider's console: where receipts and replies go.
    await sms.put("/control/webhook", json={"base_url": service.url})
    http = httpx.AsyncClient(base_url=service.url, timeout=10.0)
    admin = token_issuer.headers(tenant_id=tenant, user_id="admin-1", roles=[("*", "agency_admin")])
    front_desk = token_issuer.headers(
        tenant_id=tenant, user_id="fd-1", roles=[(SITE, "front_desk")]
    )
    elsewhere = token_issuer.headers(
        tenant_id=tenant, user_id="fd-2", roles=[("site-9", "front_desk")]
    )

    await bus.publish(
        StaffMemberChanged(
            staff_id="admin-1",
            display_name="Ada Admin",
            email="admin@agency.test",
            roles=[{"site": "*", "role": "agency_admin"}],
        )
    )
    await bus.publish(
        ClientRegistered(
            client_id="client-p",
            home_site_id=SITE,
            given_name="Pat",
            family_name="Lee",
            date_of_birth=date(1979, 5, 6),
            phone=PHONE,
            timezone="America/New_York",
            preferred_language="es",
        )
    )

    async def known() -> bool:
        response = await http.get("/clients/client-p/preferences", headers=admin)
        return response.status_code == 200

    await eventually(known, message="client known")

    # -- preferences: validated, site-checked, audited history -----------------------------
    prefs = {"channel": "sms", "quiet_hours": {"start": "21:00", "end": "08:00"}}
    bad = await http.put(
        "/clients/client-p/preferences",
        headers=front_desk,
        json={**prefs, "quiet_hours": {"start": "25:00", "end": "08:00"}},
    )
    assert bad.status_code == 422
    denied = await http.put("/clients/client-p/preferences", headers=elsewhere, json=prefs)
    assert denied.status_code == 403
    no_email = await http.put(
        "/clients/client-p/preferences", headers=front_desk, json={"channel": "email"}
    )
    assert no_email.status_code == 422
    saved = await http.put("/clients/client-p/preferences", headers=front_desk, json=prefs)
    assert saved.status_code == 200, saved.text
    assert [h["by"] for h in saved.json()["history"]] == ["fd-1"]

    # -- quiet hours: 22:30 in New York, the confirmation waits until 08:00 ---------------
    evening = (datetime.now(NEW_YORK) + timedelta(days=1)).replace(
        hour=22, minute=30, second=0, microsecond=0
    )
    morning = (evening + timedelta(days=1)).replace(hour=8, minute=0)
    clock = await http.put("/admin/test-clock", json={"now": evening.isoformat()}, headers=admin)
    assert clock.status_code == 200, clock.text
    starts = (evening + timedelta(days=3)).replace(hour=10)
    await bus.publish(appointment("appt-Q", "client-p", "booked", starts, 1))

    async def deliveries(**params: str) -> list[dict[str, Any]]:
        response = await http.get(
            "/deliveries", params={"recipient_id": "client-p", **params}, headers=admin
        )
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    [held] = await eventually(lambda: deliveries(status="queued"), message="confirmation queued")
    assert held["deferred_for_quiet_hours"] is True
    assert datetime.fromisoformat(held["next_attempt_at"]) == morning
    assert (await sms.get("/messages", params={"to": PHONE})).json() == []

    await http.put(
        "/admin/test-clock",
        json={"now": (morning + timedelta(minutes=1)).isoformat()},
        headers=admin,
    )

    async def texts() -> list[dict[str, Any]]:
        return list((await sms.get("/messages", params={"to": PHONE})).json())

    [text] = await eventually(texts, message="SMS sent after quiet hours")
    assert "cita" in text["body"]  # the Spanish variant, with the neutral word
    assert not [w for w in CLINICAL_WORDS if w in text["body"].lower()]
    # The provider's signed receipt marks it delivered.
    await eventually(lambda: deliveries(status="delivered"), message="receipt applied")

    # -- a failure reported by receipt is retried, and then delivered ----------------------
    await sms.post("/control/fail", json={"count": 1, "mode": "receipt"})
    await bus.publish(appointment("appt-R", "client-p", "booked", starts + timedelta(days=1), 1))

    async def delivered_twice_tried() -> list[dict[str, Any]]:
        return [d for d in await deliveries(status="delivered") if d["attempts"] == 2]

    await eventually(delivered_twice_tried, message="retried after a failed receipt")

    # -- the provider keeps refusing: retried, then dead, and an admin is told -------------
    await sms.post("/control/fail", json={"count": 3, "mode": "reject"})
    await bus.publish(appointment("appt-S", "client-p", "booked", starts + timedelta(days=2), 1))
    [dead] = await eventually(lambda: deliveries(status="dead"), message="dead-lettered")
    assert dead["attempts"] == 3
    assert "503" in dead["last_error"]
    attempts = [
        a
        for a in (await sms.get("/attempts", params={"to": PHONE})).json()
        if a["client_ref"] == dead["id"]
    ]
    assert len(attempts) == 3
    assert all(a["failed"] for a in attempts)
    dead_letters = (await http.get("/dead-deliveries", headers=admin)).json()["items"]
    assert [d["id"] for d in dead_letters] == [dead["id"]]

    async def admin_alerts() -> list[dict[str, Any]]:
        items = (await http.get("/inbox", headers=admin)).json()["items"]
        return [i for i in items if i["kind"] == "delivery_dead"]

    [alert] = await eventually(admin_alerts, message="admin alerted in the inbox")
    assert dead["id"] in alert["body"]
    # Partners see the whole story on the delivery topic (published through the outbox).
    statuses = await delivery_statuses(bus, dead["id"], until="dead")
    assert statuses == ["queued", "failed", "failed", "dead"]

    # -- STOP by SMS opts the client out; later messages are held, not sent ---------------
    unsigned = await http.post("/webhooks/sms/inbound", json={"from": PHONE, "body": "STOP"})
    assert unsigned.status_code == 401
    await sms.post("/control/inbound", json={"from": PHONE, "body": "STOP"})

    async def opted_out() -> bool:
        body = (await http.get("/clients/client-p/preferences", headers=admin)).json()
        return bool(body["opted_out"]) and body["history"][-1]["via"] == "sms-stop"

    await eventually(opted_out, message="STOP recorded")
    sent_before = len(await texts())
    await bus.publish(appointment("appt-T", "client-p", "booked", starts + timedelta(days=3), 1))
    [suppressed] = await eventually(lambda: deliveries(status="suppressed"), message="held")
    assert suppressed["reason"] == "client opted out"
    assert len(await texts()) == sent_before

    # START opts back in (and is recorded like STOP).
    await sms.post("/control/inbound", json={"from": PHONE, "body": "START"})

    async def opted_back_in() -> bool:
        body = (await http.get("/clients/client-p/preferences", headers=admin)).json()
        return not body["opted_out"] and body["history"][-1]["via"] == "sms-start"

    await eventually(opted_back_in, message="START recorded")
    await http.aclose()
    await sms.aclose()


# -- staff alerts by role, staff preferences, agency templates -------------------------------
async def test_alerts_reach_roles_by_preference_and_agency_templates_are_checked(
    start_service: StartService,
    notifications_bus: Bus,
    token_issuer: TestTokenIssuer,
    servers: Servers,
    unique: str,
) -> None:
    bus = notifications_bus
    tenant = bus.tenant
    smtp_port = free_port()
    sink = start_service(
        "devsmtp",
        app="halcyon.notifications.devsmtp:app",
        HALCYON_DEVSMTP_SMTP_PORT=str(smtp_port),
    )
    service = start_service(
        "notifications",
        HALCYON_NOTIFICATIONS_SMTP_PORT=str(smtp_port),
        HALCYON_NOTIFICATIONS_WORKER_POLL_SECONDS="0.2",
    )
    http = httpx.AsyncClient(base_url=service.url, timeout=10.0)

    def as_(user: str, *roles: tuple[str, str], tenant_id: str = tenant) -> dict[str, str]:
        return token_issuer.headers(tenant_id=tenant_id, user_id=user, roles=list(roles))

    admin = as_("admin-1", ("*", "agency_admin"))
    officer = as_("comp-1", (SITE, "compliance_officer"))
    biller = as_("biller-1", ("*", "biller"))
    prescriber = as_("presc-1", (SITE, "prescriber"))
    on_call = as_("clin-2", (SITE, "therapist"))

    # comp-1 wants low-stock alerts by email only (ordinary alerts may leave the inbox).
    muted = await http.put(
        "/staff/me/preferences", headers=officer, json={"alerts": {"stock_low": ["email"]}}
    )
    assert muted.status_code == 200, muted.text
    unknown = await http.put(
        "/staff/me/preferences", headers=officer, json={"alerts": {"made_up": ["email"]}}
    )
    assert unknown.status_code == 422

    for staff_id, roles, on_call_sites in [
        ("admin-1", [{"site": "*", "role": "agency_admin"}], []),
        ("comp-1", [{"site": SITE, "role": "compliance_officer"}], []),
        ("biller-1", [{"site": "*", "role": "biller"}], []),
        ("presc-1", [{"site": SITE, "role": "prescriber"}], []),
        ("clin-2", [{"site": SITE, "role": "therapist"}], [SITE]),
    ]:
        await bus.publish(
            StaffMemberChanged(
                staff_id=staff_id,
                display_name=staff_id,
                email=f"{staff_id}@agency.test",
                roles=roles,
                on_call_sites=on_call_sites,
            )
        )
    await bus.publish(client("client-w", "wren@example.test"))
    # Staff messages name the site as people do ("Pearl Street clinic"), not by its id.
    await bus.publish(SiteChanged(site_id=SITE, name="Pearl Street clinic", timezone=DENVER))

    async def known() -> bool:
        return (await http.get("/clients/client-w/preferences", headers=admin)).status_code == 200

    await eventually(known, message="client known")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongo_url)
    site_model = mongo[f"t_{unique}_notifications"]["sites"]
    await eventually(lambda: site_model.find_one({"_id": SITE}), message="site known")
    await mongo.close()

    today = date.today()
    await bus.publish(
        StockLow(
            lot_id="lot-1",
            site_id=SITE,
            product_id="p-1",
            substance="psilocybin",
            balance=2.0,
            threshold=5.0,
        )
    )
    await bus.publish(
        DiscrepancyOpened(
            discrepancy_id="disc-1",
            site_id=SITE,
            registration_id="reg-1",
            expected=10,
            counted=9,
            suspected_theft_or_loss=True,
        )
    )
    await bus.publish(
        ComplianceDeadlineDue(
            deadline_id="dl-1", site_id=SITE, kind="dea_theft_loss_notice", due_on=today
        )
    )
    await bus.publish(
        ClaimStatusChanged(
            claim_id="claim-1",
            client_id="client-w",
            payer_id="payer-1",
            status="paid",
            total_cents=100,
        )
    )
    await bus.publish(
        ClaimStatusChanged(
            claim_id="claim-1",
            client_id="client-w",
            payer_id="payer-1",
            status="denied",
            total_cents=100,
            denial_codes=["CO-50"],
        )
    )
    await bus.publish(
        CredentialExpiring(
            staff_id="presc-1",
            credential_type="dea_registration",
            identifier="FP1234567",
            expires_on=today,
            days_left=20,
        )
    )
    await bus.publish(
        SafetyAlertRaised(
            alert_id="sa-1",
            client_id="client-w",
            site_id=SITE,
            assessment_id="as-1",
            instrument="phq9",
            reason="item 9 = 2",
            raised_at=datetime.now(UTC),
        )
    )

    async def kinds(headers: dict[str, str]) -> list[str]:
        response = await http.get("/inbox", headers=headers)
        assert response.status_code == 200, response.text
        return sorted(i["kind"] for i in response.json()["items"])

    async def has(headers: dict[str, str], *want: str) -> bool:
        return set(want) <= set(await kinds(headers))

    await eventually(
        lambda: has(officer, "discrepancy_opened", "compliance_deadline"),
        message="compliance officer alerted",
    )

    async def stock_mails() -> list[dict[str, Any]]:
        return [
            m for m in await mails(sink.url, "comp-1@agency.test") if "Low stock" in m["subject"]
        ]

    # Email only: the low-stock email came, and no inbox item was filed with it.
    [stock_mail] = await eventually(stock_mails, message="low stock by email")
    assert stock_mail["subject"].endswith("Low stock at Pearl Street clinic"), stock_mail
    assert SITE not in stock_mail["subject"]
    assert "stock_low" not in await kinds(officer)
    await eventually(lambda: has(biller, "claim_denied"), message="biller told of the denial")
    assert await kinds(biller) == ["claim_denied"]  # the paid status told nobody
    await eventually(lambda: has(prescriber, "credential_expiring"), message="holder told")
    await eventually(lambda: has(admin, "credential_expiring"), message="admin told")
    await eventually(lambda: has(on_call, "safety_alert"), message="on-call told")

    # Lists paginate with a cursor; another agency sees nothing of ours.
    first = (await http.get("/inbox", params={"limit": 1}, headers=officer)).json()
    second = (
        await http.get(
            "/inbox", params={"limit": 1, "cursor": first["next_cursor"]}, headers=officer
        )
    ).json()
    assert first["next_cursor"]
    assert first["items"][0]["id"] != second["items"][0]["id"]
    stranger = as_("admin-1", ("*", "agency_admin"), tenant_id=f"{tenant}-other")
    assert (await http.get("/deliveries", headers=stranger)).json()["items"] == []
    assert (await http.get("/deliveries", headers=biller)).status_code == 403

    # -- agency templates: validated (sandbox, no clinical words) before they are saved ----
    path = "/templates/waitlist_offer/email/en"
    leaky = {"subject": "A dosing slot opened", "text": "Your MDMA session: {{ when }}"}
    refused = await http.put(path, json=leaky, headers=admin)
    assert refused.status_code == 422
    assert set(refused.json()["terms"]) == {"dosing", "mdma"}
    escape = {"text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}
    assert (await http.put(path, json=escape, headers=admin)).status_code == 422
    assert (await http.put(path, json={"text": "x"}, headers=officer)).status_code == 403

    async def waitlist_text() -> str:
        templates = (await http.get("/templates", headers=admin)).json()
        return str(
            next(
                t["text"]
                for t in templates
                if (t["template"], t["channel"], t["language"]) == ("waitlist_offer", "email", "en")
            )
        )

    assert "MDMA" not in await waitlist_text()  # nothing was written
    ours = {
        "subject": "A spot opened, {{ given_name }}",
        "text": "{{ given_name }}: {{ appointment_label }} on {{ when }}, until {{ expires }}",
    }
    assert (await http.put(path, json=ours, headers=admin)).status_code == 200
    starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
    await bus.publish(
        WaitlistOfferMade(
            offer_id="offer-1",
            client_id="client-w",
            site_id=SITE,
            site_timezone=DENVER,
            appointment_type="psilocybin_dosing",
            starts_at=starts,
            ends_at=starts + timedelta(hours=6),
            expires_at=starts - timedelta(days=1),
        )
    )
    [offer] = await eventually(lambda: mails(sink.url, "wren@example.test"), message="offer")
    assert offer["subject"] == "A spot opened, Robin"
    assert offer["text"].startswith(f"Robin: appointment on {local(starts)}")

    # An offer that overtakes the client's registration waits for it, then goes out.
    await bus.publish(
        WaitlistOfferMade(
            offer_id="offer-2",
            client_id="client-late",
            site_id=SITE,
            site_timezone=DENVER,
            appointment_type="intake",
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            expires_at=starts - timedelta(days=1),
        )
    )
    await bus.publish(client("client-late", "late@example.test"))
    await eventually(lambda: mails(sink.url, "late@example.test"), message="parked offer sent")
    await http.aclose()
