"""Billing repositories: one collection each, tenant-scoped, indexes declared here."""

from __future__ import annotations

from halcyon.shared.errors import Unavailable
from halcyon.shared.mongo import DuplicateRecord, TenantRepository
from pymongo import ASCENDING, IndexModel


class ClientDirectory(TenantRepository):
    """Read model of clients, fed by clinical's ``ClientRegistered``."""

    collection_name = "clients"


class StaffDirectory(TenantRepository):
    """Read model of staff names and NPIs (rendering providers), fed by identity's events."""

    collection_name = "staff"


class Payers(TenantRepository):
    collection_name = "payers"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("payer_id", ASCENDING)], unique=True),)


class Coverages(TenantRepository):
    collection_name = "coverages"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class FeeSchedules(TenantRepository):
    collection_name = "fee_schedules"
    indexes = (
        IndexModel(
            [
                ("tenant_id", ASCENDING),
                ("site_id", ASCENDING),
                ("payer", ASCENDING),
                ("cpt", ASCENDING),
            ]
        ),
    )


class Authorizations(TenantRepository):
    collection_name = "authorizations"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("coverage_id", ASCENDING), ("cpt", ASCENDING)]),
    )


class BillingProfiles(TenantRepository):
    """Per site: the billing provider (NPI, EIN, address) and the submitter ids."""

    collection_name = "billing_profiles"


class CapturedEncounters(TenantRepository):
    """The last revision of each signed encounter that charge capture applied."""

    collection_name = "encounters"
    # A dose's drug charge takes its diagnoses from the note of the same dosing visit.
    indexes = (IndexModel([("tenant_id", ASCENDING), ("appointment_id", ASCENDING)]),)


class Sites(TenantRepository):
    """Read model of sites (their time zone gives a dose its date of service), fed by
    identity's ``SiteChanged``."""

    collection_name = "sites"


class DrugCodes(TenantRepository):
    """Per agency and substance: billed or not, the HCPCS code and its unit in mg, and
    the NDC of each stocked product (buy and bill). ``_id`` is ``<tenant>:<substance>``."""

    collection_name = "drug_codes"


class Dispenses(TenantRepository):
    """Every dose inventory reported, and what billing did with it: the drug-supply
    charge it became, or why it was not billed (sponsor-supplied, no drug code)."""

    collection_name = "dispenses"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class Charges(TenantRepository):
    collection_name = "charges"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("encounter_id", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("status", ASCENDING), ("payer", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),
    )


class Claims(TenantRepository):
    collection_name = "claims"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("claim_number", ASCENDING)], unique=True),
        IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),
    )


class ClaimFiles(TenantRepository):
    collection_name = "claim_files"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("control_number", ASCENDING)], unique=True),)


class Counters(TenantRepository):
    """Monotonic counters (interchange control numbers, claim numbers): $inc is atomic."""

    collection_name = "counters"

    async def next(self, tenant_id: str, name: str) -> int:
        key = {"_id": f"{tenant_id}:{name}"}
        try:
            doc = await self.update(tenant_id, key, {"$inc": {"value": 1}}, upsert=True)
        except DuplicateRecord:
            # Two first-ever upserts raced (MongoDB may refuse one): the document exists now.
            doc = await self.update(tenant_id, key, {"$inc": {"value": 1}})
        if doc is None:  # the upsert above made it: only a dropped write gets here
            raise Unavailable(f"counter {name} could not be advanced; try again")
        return int(doc["value"])


class Remittances(TenantRepository):
    collection_name = "remittances"


class Payments(TenantRepository):
    """Claim payments from 835s, provider-level adjustments (PLB) and client payments."""

    collection_name = "payments"
    indexes = (
        IndexModel([("tenant_id", ASCENDING), ("claim_id", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("remittance_id", ASCENDING)]),
    )


class WorkQueue(TenantRepository):
    """Denials and unmatched remittance lines waiting for a biller."""

    collection_name = "work_queue"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("status", ASCENDING)]),)


class Ledger(TenantRepository):
    """The client's account: what they owe (+) and what they paid (-)."""

    collection_name = "ledger"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class Part2Consents(TenantRepository):
    """Clinical's 42 CFR Part 2 consents (recipient, purpose, status): may a claim go out?"""

    collection_name = "part2_consents"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("client_id", ASCENDING)]),)


class EligibilityInquiries(TenantRepository):
    """Each 270 sent (keyed by its trace number) and what its 271 answered."""

    collection_name = "eligibility_inquiries"
    indexes = (IndexModel([("tenant_id", ASCENDING), ("coverage_id", ASCENDING)]),)


ALL = [
    ClientDirectory,
    StaffDirectory,
    Payers,
    Coverages,
    FeeSchedules,
    Authorizations,
    BillingProfiles,
    CapturedEncounters,
    Sites,
    DrugCodes,
    Dispenses,
    Charges,
    Claims,
    ClaimFiles,
    Counters,
    Remittances,
    Payments,
    WorkQueue,
    Ledger,
    Part2Consents,
    EligibilityInquiries,
]
