"""Charge capture: a signed encounter, or a dispensed dose of a drug the agency bought
(buy and bill), becomes priced charges, exactly once.

Every step is idempotent on its own document (deterministic ids, conditional
updates), so a redelivered event, or a crash between two steps followed by a
redelivery, converges on the same charges without duplicating any.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from halcyon.billing.domain.charges import (
    ActiveCharge,
    claim_context,
    plan_capture,
    reversal_id,
    stored_facts,
)
from halcyon.billing.domain.coding import (
    DEFAULT_AUDIO_ONLY_MODIFIER,
    ChargeLine,
    Clinician,
    EncounterFacts,
    code_encounter,
)
from halcyon.billing.domain.drugs import (
    DrugLine,
    NotBilled,
    dispensed_mg,
    dosing_visit_id,
    drug_charge_id,
    drug_line_for,
    service_date_of,
)
from halcyon.billing.domain.payers import SELF_PAY, authorization_for, coverage_for, fee_for
from halcyon.billing.runtime import BillingRuntime
from halcyon.billing.store import (
    Authorizations,
    CapturedEncounters,
    Charges,
    Coverages,
    Dispenses,
    DrugCodes,
    FeeSchedules,
    Ledger,
    Payers,
    Sites,
    StaffDirectory,
    WorkQueue,
)
from halcyon.billing.usecases.holds import (
    HELD_CHARGE,
    held_charge_item_id,
    open_item,
    resolve_item,
)
from halcyon.billing.usecases.part2_claims import Part2Holds
from halcyon.shared.contracts.billing import AuthorizationChanged, ChargeCreated, ChargePriced
from halcyon.shared.contracts.clinical import EncounterSigned
from halcyon.shared.contracts.inventory import DoseDispensed
from halcyon.shared.mongo import Document, DuplicateRecord, OutboxEvent


@dataclass(frozen=True)
class ChargeFacts:
    """What follow-up bookkeeping needs to know of a charge just created."""

    charge_id: str
    client_id: str
    code: str  # CPT or HCPCS
    units: int
    amount_cents: int
    service_date: date


log = logging.getLogger("halcyon.billing.usecases.charge_capture")
ACTIVE = ["open", "claimed", "held"]
# Where a dose was given when billing has not seen the visit's note: the clinic (CMS POS 11).
DOSING_PLACE_OF_SERVICE = "11"
AWAITING_VISIT = "no diagnosis yet: waiting for the dosing visit's signed note"
NO_VISIT = "no diagnosis: the dose names no dosing visit"


def facts_of(event: EncounterSigned) -> EncounterFacts:
    return EncounterFacts(
        encounter_id=event.encounter_id,
        client_id=event.client_id,
        site_id=event.site_id,
        kind=event.kind,
        service_date=event.service_date,
        clinicians=tuple(
            Clinician(c.staff_id, c.role, c.npi, c.monitoring_role, c.minutes)
            for c in event.clinicians
        ),
        diagnoses=tuple(event.diagnoses),
        place_of_service=event.place_of_service,
        signed_at=event.signed_at,
        psychotherapy_minutes=event.psychotherapy_minutes,
        monitoring_minutes=event.monitoring_minutes,
        with_patient_present=event.with_patient_present,
        telehealth=event.telehealth,
        audio_only=event.audio_only,
        revision=event.revision,
    )


class ChargeCapture:
    def __init__(self, runtime: BillingRuntime) -> None:
        self.runtime = runtime
        self.encounters = runtime.repo(CapturedEncounters)
        self.charges = runtime.repo(Charges)
        self.coverages = runtime.repo(Coverages)
        self.fees = runtime.repo(FeeSchedules)
        self.authorizations = runtime.repo(Authorizations)
        self.ledger = runtime.repo(Ledger)
        self.drug_codes = runtime.repo(DrugCodes)
        self.dispenses = runtime.repo(Dispenses)
        self.sites = runtime.repo(Sites)
        self.staff = runtime.repo(StaffDirectory)
        self.payers = runtime.repo(Payers)
        self.work = runtime.repo(WorkQueue)
        self.part2 = Part2Holds(runtime)

    async def capture(self, tenant: str, event: EncounterSigned, causation_id: str) -> None:
        # Independent reads at once: one round trip's wait instead of three in a row.
        done, (payer, coverage), active_docs = await asyncio.gather(
            self.encounters.get(tenant, event.encounter_id),
            self._payer_on(tenant, event.client_id, event.service_date),
            self.charges.find(
                tenant,
                {"encounter_id": event.encounter_id, "kind": "charge", "status": {"$in": ACTIVE}},
            ),
        )
        if done is not None and int(done.get("revision", 0)) >= event.revision:
            log.info(
                "encounter %s revision %s already captured", event.encounter_id, event.revision
            )
            # A crash may have come between recording the note and releasing the visit's
            # drug charges: releasing again is conditional, so it is safe to repeat.
            await self._release_drug_charges(tenant, done)
            return
        facts = facts_of(event)
        # Audio-only telehealth: the payer says which modifier it wants (93 or FQ).
        payer_doc = await self.payers.get(tenant, payer) if payer != SELF_PAY else None
        audio_modifier = (payer_doc or {}).get("audio_only_modifier") or (
            DEFAULT_AUDIO_ONLY_MODIFIER
        )
        coding = code_encounter(facts, audio_modifier)
        active = [
            ActiveCharge(
                d["_id"],
                d["line_key"],
                str(d["facts"]),
                claim_context(d.get("diagnoses") or [], bool(d.get("part2"))),
            )
            for d in active_docs
        ]
        plan = plan_capture(
            event.encounter_id,
            event.revision,
            coding.lines,
            active,
            claim_context=claim_context(event.diagnoses, event.part2),
        )
        # Reverse before creating: authorization units are released before new ones are
        # used, so the count never shows a transient overrun that would warn scheduling.
        by_id = {d["_id"]: d for d in active_docs}
        for old_id in plan.reverse:
            await self._reverse(tenant, by_id[old_id], event.revision, causation_id)
        for new_id, line in plan.create:
            await self._create(tenant, event, new_id, line, payer, coverage, causation_id)
        recorded = await self.encounters.update(
            tenant,
            {"_id": event.encounter_id},
            {
                "$set": {
                    "revision": event.revision,
                    "client_id": event.client_id,
                    "site_id": event.site_id,
                    "appointment_id": event.appointment_id,
                    "service_date": event.service_date.isoformat(),
                    "diagnoses": list(event.diagnoses),
                    "place_of_service": event.place_of_service,
                    "part2": event.part2,
                    "coding_notes": list(coding.notes),
                    "captured_at": datetime.now(UTC),
                }
            },
            upsert=True,
        )
        if recorded is not None:
            await self._release_drug_charges(tenant, recorded)

    async def capture_dispense(
        self, tenant: str, event: DoseDispensed, causation_id: str
    ) -> str | None:
        """Buy and bill: a dose of a drug the agency bought becomes a drug-supply charge.

        The charge's ``encounter_id`` is the dosing visit: the dispense's
        ``appointment_id`` when inventory names one, else its ``ledger_entry_id``
        (``dosing_visit_id``). One charge per ledger entry (``chg:dose:<ledger entry>``),
        so a redelivered dispense finds its charge there and creates nothing; the charge
        and its ``ChargeCreated`` are one insert. A sponsor-supplied or unknown substance
        gets no charge, only a ``dispenses`` record saying why. Returns the charge id.
        """
        configured, site = await asyncio.gather(
            self.drug_codes.find(tenant, {}), self.sites.get(tenant, event.site_id)
        )
        given = dispensed_mg(event.quantity_ug, event.quantity_mg)
        decision = drug_line_for(event.substance, event.product_id, given, configured)
        service_date = service_date_of(
            event.administered_at, site.get("timezone") if site else None
        )
        if isinstance(decision, NotBilled):
            log.info("dose %s not billed: %s", event.ledger_entry_id, decision.reason)
            await self._record_dispense(tenant, event, service_date, None, decision.reason)
            return None
        charge_id = drug_charge_id(event.ledger_entry_id)
        await self._create_drug_charge(
            tenant, event, decision, charge_id, service_date, causation_id
        )
        await self._record_dispense(tenant, event, service_date, charge_id, None)
        if event.appointment_id:
            # The visit's note may have been captured while this charge was being written.
            visit = await self.encounters.find_one(tenant, {"appointment_id": event.appointment_id})
            if visit is not None:
                await self._release_drug_charges(tenant, visit)
        return charge_id

    async def _create_drug_charge(
        self,
        tenant: str,
        event: DoseDispensed,
        line: DrugLine,
        charge_id: str,
        service_date: date,
        causation_id: str,
    ) -> None:
        visit_id = dosing_visit_id(event.appointment_id, event.ledger_entry_id)
        # Independent reads at once: one round trip's wait instead of four in a row. The
        # fee schedule is read for every payer of the site and code (a handful of entries)
        # so it need not wait for the coverage that names the payer.
        visit, (payer, coverage), prescriber, site_fees = await asyncio.gather(
            self._visit_of(tenant, event.appointment_id),
            self._payer_on(tenant, event.client_id, service_date),
            # The prescriber ordered the drug: the line's rendering provider when identity
            # gave billing their NPI.
            self.staff.get(tenant, event.prescriber_id),
            self.fees.find(tenant, {"site_id": event.site_id, "cpt": line.hcpcs}),
        )
        entries = [entry for entry in site_fees if entry.get("payer") == payer]
        fee = fee_for(entries, line.hcpcs, (), service_date)
        holds = []
        if fee is None:
            holds.append(f"no fee schedule for {line.hcpcs} at this site and payer")
        # A claim line needs a diagnosis; the dose event carries none, the visit's note does.
        diagnosed = visit is not None and bool(visit.get("diagnoses"))
        awaiting = not diagnosed and event.appointment_id is not None
        if not diagnosed:
            holds.append(AWAITING_VISIT if awaiting else NO_VISIT)
        amount = fee.rate_cents * line.units if fee else 0
        document = {
            "_id": charge_id,
            "kind": "charge",
            "source": "dispense",
            "encounter_id": visit_id,
            "appointment_id": event.appointment_id,
            "ledger_entry_id": event.ledger_entry_id,
            "revision": 1,
            "client_id": event.client_id,
            "site_id": event.site_id,
            "line_key": f"drug-{event.ledger_entry_id}",
            "cpt": line.hcpcs,
            "modifiers": [],
            "units": line.units,
            "minutes": None,
            "substance": event.substance,
            "product_id": event.product_id,
            "lot_id": event.lot_id,
            "quantity_mg": float(line.quantity_mg),
            "ndc": line.ndc,
            "amount_cents": amount,
            "service_date": service_date.isoformat(),
            "place_of_service": visit["place_of_service"] if visit else DOSING_PLACE_OF_SERVICE,
            "diagnoses": list(visit["diagnoses"]) if visit and diagnosed else [],
            "diagnosis_pointers": [1] if diagnosed else [],
            "awaiting_visit": awaiting,
            "rendering_staff_id": event.prescriber_id,
            "rendering_npi": prescriber.get("npi") if prescriber else None,
            "facts": "",
            "payer": payer,
            "coverage_id": coverage["_id"] if coverage else None,
            "status": "held" if holds else "open",
            "hold_reasons": holds,
            "created_at": datetime.now(UTC),
        }
        created = ChargeCreated(
            charge_id=charge_id,
            encounter_id=visit_id,
            client_id=event.client_id,
            site_id=event.site_id,
            cpt=line.hcpcs,
            units=line.units,
            amount_cents=amount,
            service_date=service_date,
            ledger_entry_id=event.ledger_entry_id,
            ndc=line.ndc,
        )
        try:
            await self.charges.insert(
                tenant, document, [self._outbox(tenant, created, causation_id)]
            )
        except DuplicateRecord:
            log.info("dose %s already charged as %s", event.ledger_entry_id, charge_id)
        await self._after_charge(
            tenant,
            ChargeFacts(charge_id, event.client_id, line.hcpcs, line.units, amount, service_date),
            coverage,
            payer,
            f"{event.substance} {line.quantity_mg} mg ({line.hcpcs} x{line.units}) "
            f"on {service_date.isoformat()}",
            causation_id,
        )

    async def _visit_of(self, tenant: str, appointment_id: str | None) -> Document | None:
        """The dosing visit's captured note, if billing has it."""
        if not appointment_id:
            return None
        return await self.encounters.find_one(tenant, {"appointment_id": appointment_id})

    async def _record_dispense(
        self,
        tenant: str,
        event: DoseDispensed,
        service_date: date,
        charge_id: str | None,
        reason: str | None,
    ) -> None:
        """What billing did with a dose, keyed by the ledger entry (an upsert: repeatable)."""
        await self.dispenses.update(
            tenant,
            {"_id": event.ledger_entry_id},
            {
                "$set": {
                    "client_id": event.client_id,
                    "site_id": event.site_id,
                    "appointment_id": event.appointment_id,
                    "substance": event.substance,
                    "product_id": event.product_id,
                    "quantity_mg": event.quantity_mg,
                    "service_date": service_date.isoformat(),
                    "billed": charge_id is not None,
                    "charge_id": charge_id,
                    "not_billed_reason": reason,
                }
            },
            upsert=True,
        )

    async def _release_drug_charges(self, tenant: str, visit: dict[str, Any]) -> None:
        """The dosing visit's note is signed: its drug charges take the note's diagnoses
        and place of service, and become billable unless something else holds them."""
        appointment_id = visit.get("appointment_id")
        if not appointment_id or not visit.get("diagnoses"):
            return
        waiting = await self.charges.find(
            tenant, {"encounter_id": appointment_id, "awaiting_visit": True}
        )
        for charge in waiting:
            holds = [h for h in charge.get("hold_reasons", []) if h != AWAITING_VISIT]
            # The drug goes on a claim with the visit's diagnoses: Part 2 if the visit is.
            part2_reason = (
                await self.part2.hold_reason(tenant, charge["client_id"], charge["payer"])
                if visit.get("part2")
                else None
            )
            if part2_reason and part2_reason not in holds:
                holds.append(part2_reason)
            # Conditional on still waiting: two releases racing change it once.
            await self.charges.update(
                tenant,
                {"_id": charge["_id"], "awaiting_visit": True, "status": "held"},
                {
                    "$set": {
                        "awaiting_visit": False,
                        "diagnoses": list(visit["diagnoses"]),
                        "diagnosis_pointers": [1],
                        "place_of_service": visit["place_of_service"],
                        "hold_reasons": holds,
                        "status": "held" if holds else "open",
                        "part2": bool(visit.get("part2")),
                    }
                },
            )
            if part2_reason:
                await self.part2.open(tenant, charge)

    async def reprice(self, tenant: str, site_id: str) -> dict[str, int]:
        """Price held charges of a site again (a fee schedule entry was added since capture)."""
        held = await self.charges.find(
            tenant, {"site_id": site_id, "status": "held", "kind": "charge"}
        )
        priced = 0
        for charge in held:
            entries = await self.fees.find(
                tenant, {"site_id": site_id, "payer": charge["payer"], "cpt": charge["cpt"]}
            )
            on = date.fromisoformat(charge["service_date"])
            fee = fee_for(entries, charge["cpt"], tuple(charge["modifiers"]), on)
            if fee is None or not charge["diagnosis_pointers"] or charge.get("documentation_hold"):
                continue
            amount = fee.rate_cents * int(charge["units"])
            # Priced now; whatever else holds it (42 CFR Part 2 consent) still holds it.
            others = [
                h
                for h in charge.get("hold_reasons", [])
                if not h.startswith("no fee schedule") and h != "no diagnosis"
            ]
            event = ChargePriced(
                charge_id=charge["_id"],
                encounter_id=charge["encounter_id"],
                client_id=charge["client_id"],
                cpt=charge["cpt"],
                units=int(charge["units"]),
                amount_cents=amount,
            )
            done = await self.charges.update(
                tenant,
                {"_id": charge["_id"], "status": "held"},
                {
                    "$set": {
                        "status": "held" if others else "open",
                        "amount_cents": amount,
                        "hold_reasons": others,
                    }
                },
                [self._outbox(tenant, event, None)],
            )
            if done is None:
                continue
            priced += 1
            if charge["payer"] == SELF_PAY and amount:
                await _ledger_entry(
                    self.ledger,
                    tenant,
                    f"led:{charge['_id']}",
                    charge["client_id"],
                    amount,
                    f"{charge['cpt']} x{charge['units']} on {charge['service_date']}",
                    charge["_id"],
                )
        return {"held": len(held), "priced": priced}

    async def _payer_on(
        self, tenant: str, client_id: str, on: date
    ) -> tuple[str, dict[str, Any] | None]:
        coverages = await self.coverages.find(tenant, {"client_id": client_id})
        primary = coverage_for(coverages, on, "primary")
        if primary is None:
            return SELF_PAY, None
        return str(primary["payer"]), dict(primary)

    async def _create(
        self,
        tenant: str,
        event: EncounterSigned,
        charge_id: str,
        line: ChargeLine,
        payer: str,
        coverage: dict[str, Any] | None,
        causation_id: str,
    ) -> None:
        entries = await self.fees.find(
            tenant, {"site_id": event.site_id, "payer": payer, "cpt": line.cpt}
        )
        fee = fee_for(entries, line.cpt, line.modifiers, event.service_date)
        holds = []
        if line.hold:
            holds.append(line.hold)
        if fee is None:
            holds.append(f"no fee schedule for {line.cpt} at this site and payer")
        if not line.diagnosis_pointers:
            holds.append("no diagnosis")
        part2_reason = (
            await self.part2.hold_reason(tenant, event.client_id, payer) if event.part2 else None
        )
        if part2_reason:
            holds.append(part2_reason)
        # Undocumented time bills nothing until an addendum: the amount waits with it.
        amount = fee.rate_cents * line.units if fee and not line.hold else 0
        document = {
            "_id": charge_id,
            "kind": "charge",
            "encounter_id": event.encounter_id,
            "revision": event.revision,
            "client_id": event.client_id,
            "site_id": event.site_id,
            "line_key": line.key,
            "cpt": line.cpt,
            "modifiers": list(line.modifiers),
            "units": line.units,
            "minutes": line.minutes,
            "amount_cents": amount,
            "service_date": event.service_date.isoformat(),
            "place_of_service": line.place_of_service,
            "diagnoses": list(event.diagnoses),
            "diagnosis_pointers": list(line.diagnosis_pointers),
            "rendering_staff_id": line.rendering_staff_id,
            "rendering_npi": line.rendering_npi,
            "facts": stored_facts(line),
            "payer": payer,
            "coverage_id": coverage["_id"] if coverage else None,
            "status": "held" if holds else "open",
            "hold_reasons": holds,
            "part2": event.part2,
            "documentation_hold": line.hold,
            "created_at": datetime.now(UTC),
        }
        created = ChargeCreated(
            charge_id=charge_id,
            encounter_id=event.encounter_id,
            client_id=event.client_id,
            site_id=event.site_id,
            cpt=line.cpt,
            modifiers=list(line.modifiers),
            units=line.units,
            amount_cents=amount,
            service_date=event.service_date,
        )
        try:
            await self.charges.insert(
                tenant, document, [self._outbox(tenant, created, causation_id)]
            )
        except DuplicateRecord:
            log.info("charge %s already captured", charge_id)
        if line.hold:
            await open_item(
                self.work,
                tenant,
                held_charge_item_id(charge_id),
                HELD_CHARGE,
                line.hold,
                {
                    "charge_id": charge_id,
                    "client_id": event.client_id,
                    "site_id": event.site_id,
                    "encounter_id": event.encounter_id,
                    "cpt": line.cpt,
                },
            )
        if part2_reason:
            await self.part2.open(tenant, document)
        if line.hold:
            return  # nothing billable yet: no authorized units are used until it is documented
        await self._after_charge(
            tenant,
            ChargeFacts(
                charge_id, event.client_id, line.cpt, line.units, amount, event.service_date
            ),
            coverage,
            payer,
            f"{line.cpt} x{line.units} on {event.service_date.isoformat()}",
            causation_id,
        )

    async def _reverse(
        self, tenant: str, original: dict[str, Any], revision: int, causation_id: str
    ) -> None:
        rid = reversal_id(original["_id"], revision)
        service_date = date.fromisoformat(original["service_date"])
        correction = ChargeCreated(
            charge_id=rid,
            encounter_id=original["encounter_id"],
            client_id=original["client_id"],
            site_id=original["site_id"],
            cpt=original["cpt"],
            modifiers=original["modifiers"],
            units=-int(original["units"]),
            amount_cents=-int(original["amount_cents"]),
            service_date=service_date,
            corrects_charge_id=original["_id"],
        )
        document = {
            "_id": rid,
            "kind": "reversal",
            "encounter_id": original["encounter_id"],
            "revision": revision,
            "client_id": original["client_id"],
            "site_id": original["site_id"],
            "cpt": original["cpt"],
            "modifiers": original["modifiers"],
            "units": -int(original["units"]),
            "amount_cents": -int(original["amount_cents"]),
            "service_date": original["service_date"],
            "corrects_charge_id": original["_id"],
            "status": "posted",
            "created_at": datetime.now(UTC),
        }
        with contextlib.suppress(DuplicateRecord):
            await self.charges.insert(
                tenant, document, [self._outbox(tenant, correction, causation_id)]
            )
        if original.get("documentation_hold"):
            await resolve_item(
                self.work,
                tenant,
                held_charge_item_id(original["_id"]),
                f"replaced by revision {revision} of the note",
            )
        await self.charges.update(
            tenant,
            {"_id": original["_id"], "status": {"$in": ACTIVE}},
            {
                "$set": {
                    "status": "reversed",
                    "reversed_by": rid,
                    # A reversed charge already on a claim needs a corrected claim (CLM05-3 = 7).
                    "needs_corrected_claim": original.get("status") == "claimed",
                }
            },
        )
        if original.get("coverage_id"):
            await self._release_authorization(tenant, original, causation_id)
        if original.get("payer") == SELF_PAY and original.get("amount_cents"):
            await _ledger_entry(
                self.ledger,
                tenant,
                f"led:{rid}",
                original["client_id"],
                -int(original["amount_cents"]),
                "charge corrected",
                rid,
            )

    async def _after_charge(
        self,
        tenant: str,
        charge: ChargeFacts,
        coverage: Document | None,
        payer: str,
        ledger_text: str,
        causation_id: str,
    ) -> None:
        """What every new charge does next: use the coverage's authorized units, and for
        self-pay put the amount on the client's ledger (both repeatable by charge id)."""
        if coverage is not None:
            await self._use_authorization(
                tenant,
                coverage["_id"],
                charge.charge_id,
                charge.code,
                charge.units,
                charge.service_date,
                causation_id,
            )
        if payer == SELF_PAY and charge.amount_cents:
            await _ledger_entry(
                self.ledger,
                tenant,
                f"led:{charge.charge_id}",
                charge.client_id,
                charge.amount_cents,
                ledger_text,
                charge.charge_id,
            )

    async def _use_authorization(
        self,
        tenant: str,
        coverage_id: str,
        charge_id: str,
        cpt: str,
        units: int,
        on: date,
        causation_id: str,
    ) -> None:
        auths = await self.authorizations.find(tenant, {"coverage_id": coverage_id, "cpt": cpt})
        auth = authorization_for(auths, cpt, on)
        if auth is None:
            return
        # Conditional on the charge not yet counted: applying twice cannot double-count.
        query = {"_id": auth["_id"], "applied_charges": {"$ne": charge_id}}
        await self._change_authorization(
            tenant,
            dict(auth),
            query,
            {"$inc": {"units_used": units}, "$push": {"applied_charges": charge_id}},
            units,
            causation_id,
        )

    async def _release_authorization(
        self, tenant: str, original: dict[str, Any], causation_id: str
    ) -> None:
        auths = await self.authorizations.find(
            tenant, {"coverage_id": original["coverage_id"], "applied_charges": original["_id"]}
        )
        for auth in auths:
            query = {"_id": auth["_id"], "applied_charges": original["_id"]}
            units = int(original["units"])
            await self._change_authorization(
                tenant,
                dict(auth),
                query,
                {"$inc": {"units_used": -units}, "$pull": {"applied_charges": original["_id"]}},
                -units,
                causation_id,
            )

    async def _change_authorization(
        self,
        tenant: str,
        auth: dict[str, Any],
        query: dict[str, Any],
        update: dict[str, Any],
        delta: int,
        causation_id: str,
    ) -> None:
        event = AuthorizationChanged(
            authorization_id=auth["_id"],
            client_id=auth["client_id"],
            cpt=auth["cpt"],
            units_authorized=int(auth["units_authorized"]),
            units_used=int(auth.get("units_used", 0)) + delta,
            starts_on=date.fromisoformat(auth["starts_on"]),
            ends_on=date.fromisoformat(auth["ends_on"]),
        )
        # The event's units_used is only right if nobody changed the count meanwhile.
        query = {**query, "units_used": int(auth.get("units_used", 0))}
        changed = await self.authorizations.update(
            tenant, query, update, [self._outbox(tenant, event, causation_id)]
        )
        if changed is None:
            fresh = await self.authorizations.get(tenant, auth["_id"])
            if fresh is not None and _still_applies(fresh, query):
                await self._change_authorization(
                    tenant,
                    fresh,
                    {k: v for k, v in query.items() if k != "units_used"},
                    update,
                    delta,
                    causation_id,
                )

    def _outbox(self, tenant: str, contract: Any, causation_id: str | None) -> OutboxEvent:
        return self.runtime.event(contract, tenant_id=tenant, causation_id=causation_id)


def _still_applies(fresh: dict[str, Any], query: dict[str, Any]) -> bool:
    """Retry only if the lost race was on the count, not on the charge already being applied."""
    applied = fresh.get("applied_charges", [])
    condition = query.get("applied_charges")
    if isinstance(condition, dict):
        return condition["$ne"] not in applied
    return condition in applied


async def _ledger_entry(
    ledger: Ledger,
    tenant: str,
    entry_id: str,
    client_id: str,
    amount: int,
    description: str,
    reference: str,
) -> None:
    with contextlib.suppress(DuplicateRecord):
        await ledger.insert(
            tenant,
            {
                "_id": entry_id,
                "client_id": client_id,
                "amount_cents": amount,
                "description": description,
                "reference": reference,
                "posted_at": datetime.now(UTC),
            },
        )
