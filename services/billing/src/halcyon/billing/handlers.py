"""Billing's event handlers: the client, staff, site and Part 2 consent read models, and
charge capture from signed encounters and from dispensed doses (buy and bill)."""

from __future__ import annotations

from halcyon.billing.runtime import BillingRuntime
from halcyon.billing.store import ClientDirectory, Sites, StaffDirectory
from halcyon.billing.usecases.charge_capture import ChargeCapture
from halcyon.billing.usecases.part2_claims import Part2Holds
from halcyon.shared.contracts.clinical import (
    ClientDetailsChanged,
    ClientRegistered,
    ConsentChanged,
    EncounterSigned,
)
from halcyon.shared.contracts.identity import SiteChanged, StaffMemberChanged
from halcyon.shared.contracts.inventory import DoseDispensed
from halcyon.shared.kafka import Delivery, EventConsumer


def register(consumer: EventConsumer, runtime: BillingRuntime) -> None:
    clients = runtime.repo(ClientDirectory)
    capture = ChargeCapture(runtime)
    staff = runtime.repo(StaffDirectory)
    sites = runtime.repo(Sites)
    part2 = Part2Holds(runtime)

    @consumer.handles(StaffMemberChanged)
    async def staff_changed(event: StaffMemberChanged, delivery: Delivery) -> None:
        # Rendering providers on claims need a name next to the NPI (2310B/2420A NM1*82).
        await staff.project(
            delivery.envelope.tenantid,
            event.staff_id,
            {"display_name": event.display_name, "npi": event.npi},
            order_field="event_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(SiteChanged)
    async def site_changed(event: SiteChanged, delivery: Delivery) -> None:
        # A dose's date of service is the site's calendar day (state transfer: upsert).
        await sites.project(
            delivery.envelope.tenantid,
            event.site_id,
            {"name": event.name, "timezone": event.timezone},
            order_field="event_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(ClientRegistered)
    async def client_registered(event: ClientRegistered, delivery: Delivery) -> None:
        # Upsert keyed by client id: applying the same event again changes nothing.
        await clients.project(
            delivery.envelope.tenantid,
            event.client_id,
            {
                "home_site_id": event.home_site_id,
                "given_name": event.given_name,
                "family_name": event.family_name,
                "date_of_birth": event.date_of_birth.isoformat(),
                "address": event.address.model_dump() if event.address else None,
                "source_event_id": delivery.envelope.id,
            },
            order_field="event_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(ClientDetailsChanged)
    async def client_details_changed(event: ClientDetailsChanged, delivery: Delivery) -> None:
        # Statements and claims carry the client's current name, date of birth and address.
        await clients.project(
            delivery.envelope.tenantid,
            event.client_id,
            {
                "home_site_id": event.home_site_id,
                "given_name": event.given_name,
                "family_name": event.family_name,
                "date_of_birth": event.date_of_birth.isoformat(),
                "address": event.address.model_dump() if event.address else None,
                "source_event_id": delivery.envelope.id,
            },
            order_field="event_time",
            order_value=delivery.envelope.time,
        )

    @consumer.handles(EncounterSigned)
    async def encounter_signed(event: EncounterSigned, delivery: Delivery) -> None:
        await capture.capture(delivery.envelope.tenantid, event, delivery.envelope.id)

    @consumer.handles(ConsentChanged)
    async def consent_changed(event: ConsentChanged, delivery: Delivery) -> None:
        # 42 CFR Part 2: a consent for payment releases held claims; revocation holds again.
        await part2.consent_changed(delivery.envelope.tenantid, event)

    @consumer.handles(DoseDispensed)
    async def dose_dispensed(event: DoseDispensed, delivery: Delivery) -> None:
        # Buy and bill: esketamine the agency bought is charged per mg (S0013); sponsor-
        # supplied investigational drugs are recorded as not billed. Idempotent per
        # ledger entry (the charge id derives from it).
        await capture.capture_dispense(delivery.envelope.tenantid, event, delivery.envelope.id)
