"""Batching open charges into 837P claim files, and secondary claims after the primary paid."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from halcyon.billing.domain.claim837 import (
    Address,
    Adjudication,
    BillingProvider,
    Claim,
    ClaimRefused,
    DrugIdentification,
    Envelope,
    OtherPayer,
    Party,
    ServiceLine,
    write_837p,
)
from halcyon.billing.domain.claims import split_into_claims
from halcyon.billing.domain.coding import add_ons_have_primary
from halcyon.billing.domain.part2 import HOLD_REASON, consent_for_payment
from halcyon.billing.domain.payers import RELATIONSHIP_CODES, coverage_for
from halcyon.billing.runtime import BillingRuntime, Events
from halcyon.billing.store import Authorizations as AuthorizationsRepo
from halcyon.billing.store import (
    BillingProfiles,
    ClaimFiles,
    Claims,
    ClientDirectory,
    Counters,
    Coverages,
    Part2Consents,
    Payers,
    StaffDirectory,
)
from halcyon.billing.store import (
    Charges as ChargesRepo,
)
from halcyon.shared.auth import Caller
from halcyon.shared.contracts.billing import ClaimStatusChanged
from halcyon.shared.errors import NotFound, RuleViolation
from halcyon.shared.mongo import OutboxEvent
from uuid6 import uuid7

# The claim number of a claim rendered only to be refused (before the counter moves).
TRIAL_NUMBER = "T000000000"
# An encounter's charges planned onto one claim: (client, coverage, charges).
Planned = tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]


@dataclass
class Repos:
    profiles: BillingProfiles
    payers: Payers
    coverages: Coverages
    clients: ClientDirectory
    charges: ChargesRepo
    claims: Claims
    files: ClaimFiles
    counters: Counters
    staff: StaffDirectory
    # Optional so older wiring keeps working: without them no REF*G1 / no Part 2 consents
    # are known (a Part 2 claim then stays held).
    authorizations: AuthorizationsRepo | None = None
    part2_consents: Part2Consents | None = None

    @classmethod
    def of(cls, runtime: BillingRuntime) -> Repos:
        return cls(
            runtime.repo(BillingProfiles),
            runtime.repo(Payers),
            runtime.repo(Coverages),
            runtime.repo(ClientDirectory),
            runtime.repo(ChargesRepo),
            runtime.repo(Claims),
            runtime.repo(ClaimFiles),
            runtime.repo(Counters),
            runtime.repo(StaffDirectory),
            runtime.repo(AuthorizationsRepo),
            runtime.repo(Part2Consents),
        )


def status_event(events: Events, tenant: str, claim: dict[str, Any], status: str) -> OutboxEvent:
    event = ClaimStatusChanged(
        claim_id=claim["_id"],
        client_id=claim["client_id"],
        payer_id=claim["payer"],
        status=status,
        total_cents=int(claim["total_cents"]),
        paid_cents=int(claim.get("paid_cents", 0)),
        denial_codes=list(claim.get("denial_codes", [])),
    )
    return events.event(event, tenant_id=tenant)


def _address(raw: dict[str, Any] | None) -> Address | None:
    if not raw:
        return None
    return Address(raw["line1"], raw["city"], raw["state"], raw["postal_code"], raw.get("line2"))


def _subscriber(coverage: dict[str, Any]) -> Party:
    person = coverage["subscriber"]
    return Party(
        name=person["family_name"],
        given_name=person["given_name"],
        identifier=coverage["member_id"],
        address=_address(person.get("address")),
        date_of_birth=date.fromisoformat(person["date_of_birth"]),
        sex=person.get("sex", "U"),
    )


def _patient(client: dict[str, Any], coverage: dict[str, Any]) -> Party:
    return Party(
        name=client["family_name"],
        given_name=client["given_name"],
        identifier="",
        # The client's own address from clinical when known, else the subscriber's.
        address=_address(client.get("address") or coverage["subscriber"].get("address")),
        date_of_birth=date.fromisoformat(client["date_of_birth"]),
        sex=coverage.get("patient_sex", "U"),
    )


def _payer(payer: dict[str, Any]) -> Party:
    return Party(name=payer["name"], identifier=payer["payer_id"])


def _drug(charge: dict[str, Any]) -> DrugIdentification | None:
    """A drug-supply charge with a known NDC names it on its line (2410, quantity in mg)."""
    if not charge.get("ndc") or not charge.get("quantity_mg"):
        return None
    return DrugIdentification(charge["ndc"], Decimal(str(charge["quantity_mg"])))


def _provider(profile: dict[str, Any]) -> BillingProvider:
    address = _address(profile["address"])
    if address is None:
        raise RuleViolation("the site's billing profile has no address")
    return BillingProvider(
        profile["provider_name"],
        profile["npi"],
        profile["tax_id"],
        address,
        profile.get("taxonomy"),
    )


class ClaimBatcher:
    def __init__(self, repos: Repos, events: Events) -> None:
        self.r = repos
        self.events = events
        self.names: dict[str, str] = {}
        self.auth_refs: dict[str, str] = {}  # charge id -> prior authorization number

    async def load_authorizations(self, tenant: str, charges: list[dict[str, Any]]) -> None:
        """The payer's authorization number for each charge an authorization counted."""
        if self.r.authorizations is None or not charges:
            return
        ids = [c["_id"] for c in charges]
        found = await self.r.authorizations.find(tenant, {"applied_charges": {"$in": ids}})
        for auth in found:
            if not auth.get("reference"):
                continue
            for charge_id in auth.get("applied_charges", []):
                self.auth_refs[charge_id] = str(auth["reference"])

    async def part2_hold(
        self,
        tenant: str,
        client_id: str,
        payer: dict[str, Any],
        charges: list[dict[str, Any]],
    ) -> str | None:
        """Why these charges may not go to this payer under 42 CFR Part 2, or None."""
        if not any(c.get("part2") for c in charges):
            return None
        consents: list[dict[str, Any]] = []
        if self.r.part2_consents is not None:
            consents = await self.r.part2_consents.find(tenant, {"client_id": client_id})
        found = consent_for_payment(consents, payer["name"], payer["payer_id"], datetime.now(UTC))
        return None if found is not None else HOLD_REASON

    async def batch(self, caller: Caller, site_id: str, payer_ref: str) -> dict[str, Any]:
        tenant = caller.tenant_id
        profile = await self.r.profiles.get(tenant, site_id)
        if profile is None:
            raise RuleViolation(f"site {site_id} has no billing profile (NPI, EIN, address)")
        payer = await self.r.payers.get(tenant, payer_ref)
        if payer is None:
            raise NotFound(f"no payer {payer_ref}")
        open_charges = await self.r.charges.find(
            tenant, {"site_id": site_id, "payer": payer_ref, "status": "open", "kind": "charge"}
        )
        await self.load_names(tenant, open_charges)
        by_encounter: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for charge in open_charges:
            by_encounter[charge["encounter_id"]].append(charge)
        planned: list[Planned] = []
        skipped: list[dict[str, str]] = []
        for encounter_id, charges in by_encounter.items():
            parts = await self._plan_encounter(tenant, encounter_id, payer, charges)
            if isinstance(parts, str):
                skipped.append({"encounter_id": encounter_id, "reason": parts})
            else:
                planned += parts
        if not planned:
            return {"file": None, "claims": [], "skipped": skipped}
        await self.load_authorizations(tenant, [c for _, _, part in planned for c in part])
        # Write the file once before touching anything (charges, counters): a claim that
        # cannot be expressed in X12 is refused while nothing has been written.
        trial = [
            self._claim(
                self._claim_doc("trial", f"T{i:09d}", site_id, payer_ref, coverage, part, "P"),
                client,
                coverage,
                payer,
                part,
            )
            for i, (client, coverage, part) in enumerate(planned)
        ]
        self._render(
            profile,
            0,
            trial,
            encounters={
                c.claim_number: p[2][0]["encounter_id"] for c, p in zip(trial, planned, strict=True)
            },
        )
        final: list[tuple[dict[str, Any], Claim]] = []
        for client, coverage, charges in planned:
            claim_id = str(uuid7())
            number = f"H{await self.r.counters.next(tenant, 'claim'):09d}"
            claimed = []
            for charge in charges:
                # Conditional: a charge goes on exactly one claim even if two batches race.
                done = await self.r.charges.update(
                    tenant,
                    {"_id": charge["_id"], "status": "open"},
                    {"$set": {"status": "claimed", "claim_id": claim_id}},
                )
                if done is not None:
                    claimed.append(done)
            if not claimed:
                continue
            doc = self._claim_doc(claim_id, number, site_id, payer_ref, coverage, claimed, "P")
            final.append((doc, self._claim(doc, client, coverage, payer, claimed)))
        if not final:
            return {"file": None, "claims": [], "skipped": skipped}
        return await self._write_file(caller, profile, payer_ref, final, skipped)

    async def _plan_encounter(
        self, tenant: str, encounter_id: str, payer: dict[str, Any], charges: list[dict[str, Any]]
    ) -> list[Planned] | str:
        """The claims an encounter's open charges become, or why it is skipped."""
        client = await self.r.clients.get(tenant, charges[0]["client_id"])
        coverage = await self.r.coverages.get(tenant, charges[0]["coverage_id"] or "")
        if client is None or coverage is None:
            return "client or coverage unknown"
        lines = [(date.fromisoformat(c["service_date"]), c["cpt"]) for c in charges]
        if not add_ons_have_primary(lines):
            return "add-on code without 0820T"
        held = await self.part2_hold(tenant, charges[0]["client_id"], payer, charges)
        if held:
            return held
        # Over 50 lines: several claims, each with its own lines and exact total.
        try:
            parts = split_into_claims(lines)
        except ValueError as exc:
            # Add-ons must stay with their 0820T: more of them than a claim holds
            # cannot be split. Refused before anything is written.
            raise RuleViolation(
                f"encounter {encounter_id} cannot be billed: lines: {exc}",
                field="lines",
                encounter_id=encounter_id,
            ) from None
        return [(client, coverage, [charges[i] for i in part]) for part in parts]

    async def secondary(self, caller: Caller, primary_id: str) -> dict[str, Any]:
        tenant = caller.tenant_id
        primary = await self.r.claims.get(tenant, primary_id)
        if primary is None:
            raise NotFound(f"no claim {primary_id}")
        if primary["sequence"] != "P" or primary["status"] not in ("paid", "denied"):
            raise RuleViolation("a secondary claim follows a primary claim the payer adjudicated")
        if primary.get("secondary_claim_id"):
            raise RuleViolation(
                f"claim {primary_id} already has secondary claim {primary['secondary_claim_id']}"
            )
        service_date = date.fromisoformat(primary["service_date"])
        coverages = await self.r.coverages.find(tenant, {"client_id": primary["client_id"]})
        secondary_coverage = coverage_for(coverages, service_date, "secondary")
        if secondary_coverage is None:
            raise RuleViolation("the client has no secondary coverage on the date of service")
        primary_coverage = await self.r.coverages.get(tenant, primary["coverage_id"])
        primary_payer = await self.r.payers.get(tenant, primary["payer"])
        payer = await self.r.payers.get(tenant, secondary_coverage["payer"])
        client = await self.r.clients.get(tenant, primary["client_id"])
        profile = await self.r.profiles.get(tenant, primary["site_id"])
        if (
            primary_coverage is None
            or primary_payer is None
            or payer is None
            or client is None
            or profile is None
        ):
            raise RuleViolation("payer, coverage, client or billing profile is missing")
        charges = await self.r.charges.find(tenant, {"_id": {"$in": primary["charge_ids"]}})
        held = await self.part2_hold(tenant, primary["client_id"], payer, charges)
        if held:
            raise RuleViolation(f"the secondary claim is held: {held}", hold="part2")
        await self.load_names(tenant, charges)
        await self.load_authorizations(tenant, charges)
        claim_id = str(uuid7())
        doc = self._claim_doc(
            claim_id,
            TRIAL_NUMBER,
            primary["site_id"],
            payer["_id"],
            dict(secondary_coverage),
            charges,
            "S",
        )
        doc["primary_claim_id"] = primary_id
        claim = self._claim(
            doc,
            client,
            dict(secondary_coverage),
            payer,
            charges,
            primary,
            primary_coverage,
            primary_payer,
        )
        self._render(profile, 0, [claim])  # refuse before the counter moves
        doc["claim_number"] = f"H{await self.r.counters.next(tenant, 'claim'):09d}"
        claim = replace(claim, claim_number=doc["claim_number"])
        result = await self._write_file(caller, profile, payer["_id"], [(doc, claim)], [])
        await self.r.claims.update(
            tenant, {"_id": primary_id}, {"$set": {"secondary_claim_id": claim_id}}
        )
        return result

    async def replacement(self, caller: Caller, original_id: str) -> dict[str, Any]:
        """A corrected claim (CLM05-3 = 7, REF*F8) after an addendum changed a claimed charge."""
        tenant = caller.tenant_id
        original = await self.r.claims.get(tenant, original_id)
        if original is None:
            raise NotFound(f"no claim {original_id}")
        if original["status"] in ("draft", "rejected") or original.get("replaced_by"):
            raise RuleViolation(f"claim {original_id} ({original['status']}) cannot be replaced")
        encounter_charges = await self.r.charges.find(
            tenant, {"encounter_id": original["encounter_id"], "kind": "charge"}
        )
        if not any(
            c.get("needs_corrected_claim") and c["_id"] in original["charge_ids"]
            for c in encounter_charges
        ):
            raise RuleViolation(f"no charge of claim {original_id} was corrected")
        kept = [
            c
            for c in encounter_charges
            if c["status"] == "claimed" and c.get("claim_id") == original_id
        ]
        new = [
            c
            for c in encounter_charges
            if c["status"] == "open" and c["payer"] == original["payer"]
        ]
        lines = kept + new
        if not lines:
            raise RuleViolation(
                "nothing is billable on the encounter any more: void the claim instead"
            )
        coverage = await self.r.coverages.get(tenant, original["coverage_id"])
        payer = await self.r.payers.get(tenant, original["payer"])
        client = await self.r.clients.get(tenant, original["client_id"])
        profile = await self.r.profiles.get(tenant, original["site_id"])
        if coverage is None or payer is None or client is None or profile is None:
            raise RuleViolation("payer, coverage, client or billing profile is missing")
        held = await self.part2_hold(tenant, original["client_id"], payer, lines)
        if held:
            raise RuleViolation(f"the corrected claim is held: {held}", hold="part2")
        await self.load_names(tenant, lines)
        await self.load_authorizations(tenant, lines)
        claim_id = str(uuid7())
        doc = self._claim_doc(
            claim_id, TRIAL_NUMBER, original["site_id"], payer["_id"], coverage, lines, "P"
        )
        doc["replaces_claim_id"] = original_id
        doc["frequency"] = "7"
        claim = replace(
            self._claim(doc, client, coverage, payer, lines),
            frequency="7",
            payer_claim_number=original.get("payer_claim_number") or original["claim_number"],
        )
        self._render(profile, 0, [claim])  # refuse before any write
        doc["claim_number"] = f"H{await self.r.counters.next(tenant, 'claim'):09d}"
        claim = replace(claim, claim_number=doc["claim_number"])
        for charge in kept:
            await self.r.charges.update(
                tenant,
                {"_id": charge["_id"], "status": "claimed", "claim_id": original_id},
                {"$set": {"claim_id": claim_id}},
            )
        for charge in new:
            await self.r.charges.update(
                tenant,
                {"_id": charge["_id"], "status": "open"},
                {"$set": {"status": "claimed", "claim_id": claim_id}},
            )
        result = await self._write_file(caller, profile, payer["_id"], [(doc, claim)], [])
        await self.r.claims.update(
            tenant, {"_id": original_id}, {"$set": {"replaced_by": claim_id}}
        )
        return result

    @staticmethod
    def _claim_doc(
        claim_id: str,
        number: str,
        site_id: str,
        payer_ref: str,
        coverage: dict[str, Any],
        charges: list[dict[str, Any]],
        sequence: str,
    ) -> dict[str, Any]:
        first = charges[0]
        return {
            "_id": claim_id,
            "claim_number": number,
            "client_id": first["client_id"],
            "site_id": site_id,
            "payer": payer_ref,
            "coverage_id": coverage["_id"],
            "sequence": sequence,
            "encounter_id": first["encounter_id"],
            "service_date": first["service_date"],
            "diagnoses": first["diagnoses"],
            "place_of_service": first["place_of_service"],
            "charge_ids": [c["_id"] for c in charges],
            "lines": [
                {"charge_id": c["_id"], "cpt": c["cpt"], "amount_cents": int(c["amount_cents"])}
                for c in charges
            ],
            "total_cents": sum(int(c["amount_cents"]) for c in charges),
            "paid_cents": 0,
            "patient_responsibility_cents": 0,
            "status": "draft",
            "created_at": datetime.now(UTC),
        }

    def _rendering(self, charge: dict[str, Any]) -> Party:
        """NM1*82 for a charge's rendering clinician: name from identity's staff events."""
        name = self.names.get(charge.get("rendering_staff_id") or "", "")
        parts = name.split()
        family = parts[-1] if parts else "UNKNOWN"
        given = " ".join(parts[:-1]) if len(parts) > 1 else "UNKNOWN"
        return Party(name=family, given_name=given, identifier=charge["rendering_npi"])

    async def load_names(self, tenant: str, charges: list[dict[str, Any]]) -> None:
        ids = sorted({c["rendering_staff_id"] for c in charges if c.get("rendering_staff_id")})
        if ids:
            found = await self.r.staff.find(tenant, {"_id": {"$in": ids}})
            self.names.update({d["_id"]: d.get("display_name", "") for d in found})

    def _claim(
        self,
        doc: dict[str, Any],
        client: dict[str, Any],
        coverage: dict[str, Any],
        payer: dict[str, Any],
        charges: list[dict[str, Any]],
        primary: dict[str, Any] | None = None,
        primary_coverage: dict[str, Any] | None = None,
        primary_payer: dict[str, Any] | None = None,
    ) -> Claim:
        relationship = RELATIONSHIP_CODES[coverage.get("relationship", "self")]
        first = next((c for c in charges if c.get("rendering_npi")), None)
        first_npi = first["rendering_npi"] if first else None
        rendering = self._rendering(first) if first else None
        adjudicated = {a["charge_id"]: a for a in (primary or {}).get("line_adjudications", [])}
        # REF*G1: one authorization for the claim goes in 2300; several go on their lines.
        references = {c["_id"]: self.auth_refs.get(c["_id"]) for c in charges}
        distinct = {r for r in references.values() if r}
        claim_authorization = next(iter(distinct)) if len(distinct) == 1 else None
        lines = []
        for charge in charges:
            prior = None
            if primary is not None and charge["_id"] in adjudicated:
                found = adjudicated[charge["_id"]]
                prior = Adjudication(
                    payer_id=primary_payer["payer_id"] if primary_payer else "",
                    paid_cents=int(found["paid_cents"]),
                    adjustments=tuple(
                        (a["group"], a["reason"], int(a["amount_cents"]))
                        for a in found["adjustments"]
                    ),
                    adjudicated_on=date.fromisoformat(primary["adjudicated_on"]),
                )
            npi = charge.get("rendering_npi")
            lines.append(
                ServiceLine(
                    cpt=charge["cpt"],
                    modifiers=tuple(charge["modifiers"]),
                    charge_cents=int(charge["amount_cents"]),
                    units=int(charge["units"]),
                    service_date=date.fromisoformat(charge["service_date"]),
                    diagnosis_pointers=tuple(charge["diagnosis_pointers"]),
                    place_of_service=charge["place_of_service"],
                    rendering=self._rendering(charge) if npi and npi != first_npi else None,
                    prior=prior,
                    drug=_drug(charge),
                    prior_authorization=(
                        references[charge["_id"]] if claim_authorization is None else None
                    ),
                )
            )
        others: tuple[OtherPayer, ...] = ()
        if primary is not None and primary_coverage is not None and primary_payer is not None:
            claim_level = tuple(
                (a["group"], a["reason"], int(a["amount_cents"]))
                for a in primary.get("claim_adjustments", [])
            )
            others = (
                OtherPayer(
                    sequence="P",
                    relationship=RELATIONSHIP_CODES[primary_coverage.get("relationship", "self")],
                    filing_indicator=primary_payer["claim_filing_indicator"],
                    subscriber=_subscriber(primary_coverage),
                    payer=_payer(primary_payer),
                    paid_cents=int(primary.get("paid_cents", 0)),
                    claim_adjustments=claim_level,
                    patient_responsibility_cents=int(
                        primary.get("patient_responsibility_cents", 0)
                    ),
                    group_number=primary_coverage.get("group_number"),
                ),
            )
        return Claim(
            claim_number=doc["claim_number"],
            sequence=doc["sequence"],
            relationship=relationship,
            filing_indicator=payer["claim_filing_indicator"],
            subscriber=_subscriber(coverage),
            patient=_patient(client, coverage),
            payer=_payer(payer),
            place_of_service=doc["place_of_service"],
            diagnoses=tuple(doc["diagnoses"]),
            lines=tuple(lines),
            rendering=rendering,
            group_number=coverage.get("group_number"),
            other_payers=others,
            prior_authorization=claim_authorization,
        )

    @staticmethod
    def _render(
        profile: dict[str, Any],
        control: int,
        claims: list[Claim],
        now: datetime | None = None,
        encounters: dict[str, str] | None = None,
    ) -> str:
        """The 837P text; a claim a payer would reject is a 422 naming the field."""
        envelope = Envelope(
            sender_id=profile["submitter_id"],
            receiver_id=profile["receiver_id"],
            control_number=control,
            created_at=now or datetime.now(UTC),
            usage=profile.get("usage", "P"),
            receiver_name=profile.get("receiver_name", "CLEARINGHOUSE"),
            contact_phone=profile.get("contact_phone", "0000000000"),
        )
        try:
            return write_837p(envelope, _provider(profile), claims)
        except ClaimRefused as exc:
            where: dict[str, Any] = {"field": exc.field}
            encounter = (encounters or {}).get(exc.claim_number or "")
            if encounter:
                where["encounter_id"] = encounter
            elif exc.claim_number:
                where["claim_number"] = exc.claim_number
            subject = f"encounter {encounter}" if encounter else f"claim {exc.claim_number}"
            raise RuleViolation(
                f"{subject} cannot be billed: {exc.field}: {exc.problem}", **where
            ) from None
        except ValueError as exc:
            raise RuleViolation(f"the claim cannot be written as X12: {exc}") from None

    async def _write_file(
        self,
        caller: Caller,
        profile: dict[str, Any],
        payer_ref: str,
        drafts: list[tuple[dict[str, Any], Claim]],
        skipped: list[dict[str, str]],
    ) -> dict[str, Any]:
        tenant = caller.tenant_id
        self._render(profile, 0, [claim for _, claim in drafts])  # refuse before any write
        control = await self.r.counters.next(tenant, "interchange")
        now = datetime.now(UTC)
        text = self._render(profile, control, [claim for _, claim in drafts], now)
        file_id = str(uuid7())
        await self.r.files.insert(
            tenant,
            {
                "_id": file_id,
                "control_number": control,
                "payer": payer_ref,
                "site_id": profile["_id"],
                "claim_ids": [doc["_id"] for doc, _ in drafts],
                "total_cents": sum(doc["total_cents"] for doc, _ in drafts),
                "content": text,
                "created_at": now,
                "created_by": caller.user_id,
            },
        )
        for doc, _ in drafts:
            doc["file_id"] = file_id
            doc["history"] = [{"status": "draft", "at": now, "by": caller.user_id}]
            await self.r.claims.insert(
                tenant, doc, [status_event(self.events, tenant, doc, "draft")]
            )
        return {
            "file": {
                "id": file_id,
                "control_number": control,
                "total_cents": sum(d["total_cents"] for d, _ in drafts),
            },
            "claims": [
                {"id": d["_id"], "claim_number": d["claim_number"], "total_cents": d["total_cents"]}
                for d, _ in drafts
            ],
            "skipped": skipped,
        }
