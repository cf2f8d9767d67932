"""Typed dependencies of billing's routes: the runtime, the repositories, the use cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from halcyon.billing import store
from halcyon.billing.runtime import BillingRuntime
from halcyon.billing.usecases.accounts import ClientAccounts
from halcyon.billing.usecases.authorizations import PriorAuthorizations
from halcyon.billing.usecases.charge_capture import ChargeCapture
from halcyon.billing.usecases.claim_lifecycle import ClaimLifecycle
from halcyon.billing.usecases.claiming import ClaimBatcher, Repos
from halcyon.billing.usecases.eligibility import EligibilityQuestions, EligibilityResponses
from halcyon.billing.usecases.remittances import RemittancePoster
from halcyon.shared.service import repository, runtime_of


def billing_runtime(request: Request) -> BillingRuntime:
    runtime: BillingRuntime = runtime_of(request)
    return runtime


Runtime = Annotated[BillingRuntime, Depends(billing_runtime)]

Clients = Annotated[store.ClientDirectory, repository(store.ClientDirectory)]
Staff = Annotated[store.StaffDirectory, repository(store.StaffDirectory)]
Payers = Annotated[store.Payers, repository(store.Payers)]
Coverages = Annotated[store.Coverages, repository(store.Coverages)]
FeeSchedules = Annotated[store.FeeSchedules, repository(store.FeeSchedules)]
Authorizations = Annotated[store.Authorizations, repository(store.Authorizations)]
Profiles = Annotated[store.BillingProfiles, repository(store.BillingProfiles)]
Charges = Annotated[store.Charges, repository(store.Charges)]
Claims = Annotated[store.Claims, repository(store.Claims)]
ClaimFiles = Annotated[store.ClaimFiles, repository(store.ClaimFiles)]
Remittances = Annotated[store.Remittances, repository(store.Remittances)]
Payments = Annotated[store.Payments, repository(store.Payments)]
WorkQueue = Annotated[store.WorkQueue, repository(store.WorkQueue)]
Ledger = Annotated[store.Ledger, repository(store.Ledger)]
DrugCodes = Annotated[store.DrugCodes, repository(store.DrugCodes)]
Dispenses = Annotated[store.Dispenses, repository(store.Dispenses)]
Sites = Annotated[store.Sites, repository(store.Sites)]


def _accounts(runtime: Runtime) -> ClientAccounts:
    return ClientAccounts.of(runtime)


def _prior_authorizations(runtime: Runtime) -> PriorAuthorizations:
    return PriorAuthorizations.of(runtime)


def _charge_capture(runtime: Runtime) -> ChargeCapture:
    return ChargeCapture(runtime)


def _claim_batcher(runtime: Runtime) -> ClaimBatcher:
    return ClaimBatcher(Repos.of(runtime), runtime)


def _claim_lifecycle(runtime: Runtime) -> ClaimLifecycle:
    return ClaimLifecycle.of(runtime)


def _eligibility_questions(runtime: Runtime) -> EligibilityQuestions:
    return EligibilityQuestions(runtime)


def _eligibility_responses(runtime: Runtime) -> EligibilityResponses:
    return EligibilityResponses(
        runtime.repo(store.EligibilityInquiries),
        runtime.repo(store.Coverages),
        runtime.repo(store.Payers),
    )


def _remittance_poster(runtime: Runtime) -> RemittancePoster:
    return RemittancePoster.of(runtime)


Accounts = Annotated[ClientAccounts, Depends(_accounts)]
PriorAuths = Annotated[PriorAuthorizations, Depends(_prior_authorizations)]
Capture = Annotated[ChargeCapture, Depends(_charge_capture)]
Batcher = Annotated[ClaimBatcher, Depends(_claim_batcher)]
Lifecycle = Annotated[ClaimLifecycle, Depends(_claim_lifecycle)]
Questions = Annotated[EligibilityQuestions, Depends(_eligibility_questions)]
Responses = Annotated[EligibilityResponses, Depends(_eligibility_responses)]
Poster = Annotated[RemittancePoster, Depends(_remittance_poster)]
