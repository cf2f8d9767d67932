"""What identity's routes take: the typed runtime, its parts, repositories, use cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from halcyon.identity import store
from halcyon.identity.jobs import CredentialExpiryJob
from halcyon.identity.keys import SigningKeys
from halcyon.identity.runtime import Clock, IdentityRuntime
from halcyon.identity.settings import IdentitySettings
from halcyon.identity.usecases.password_reset import PasswordResets
from halcyon.identity.usecases.sessions import Sessions
from halcyon.identity.usecases.sign_in import Authentication
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.http.pagination import PageParams, page_params
from halcyon.shared.service import repository, runtime_of


def identity_runtime(request: Request) -> IdentityRuntime:
    runtime: IdentityRuntime = runtime_of(request)
    return runtime


Runtime = Annotated[IdentityRuntime, Depends(identity_runtime)]


def settings_of(runtime: Runtime) -> IdentitySettings:
    return runtime.settings


def keys_of(runtime: Runtime) -> SigningKeys:
    return runtime.parts.keys


def cipher_of(runtime: Runtime) -> FieldCipher:
    return runtime.parts.cipher


def clock_of(runtime: Runtime) -> Clock:
    return runtime.parts.clock


Settings = Annotated[IdentitySettings, Depends(settings_of)]
Keys = Annotated[SigningKeys, Depends(keys_of)]
Cipher = Annotated[FieldCipher, Depends(cipher_of)]
ClockDep = Annotated[Clock, Depends(clock_of)]
Paging = Annotated[PageParams, Depends(page_params)]


# -- use cases -----------------------------------------------------------------------------
def authentication(runtime: Runtime, request: Request) -> Authentication:
    return Authentication(runtime, request)


def sessions(runtime: Runtime, request: Request) -> Sessions:
    return Sessions(runtime, request)


def password_resets(runtime: Runtime, request: Request) -> PasswordResets:
    return PasswordResets(runtime, request)


def credential_expiry(runtime: Runtime) -> CredentialExpiryJob:
    return CredentialExpiryJob(
        runtime.repo(store.StaffRepository),
        runtime.repo(store.AgencyRepository),
        runtime,
        window_days=runtime.settings.credential_warning_days,
    )


SignIns = Annotated[Authentication, Depends(authentication)]
SessionsDep = Annotated[Sessions, Depends(sessions)]
Resets = Annotated[PasswordResets, Depends(password_resets)]
ExpiryScan = Annotated[CredentialExpiryJob, Depends(credential_expiry)]

# -- repositories --------------------------------------------------------------------------
Agencies = Annotated[store.AgencyRepository, repository(store.AgencyRepository)]
Sites = Annotated[store.SiteRepository, repository(store.SiteRepository)]
Staff = Annotated[store.StaffRepository, repository(store.StaffRepository)]
AuditLog = Annotated[store.AccessAuditLog, repository(store.AccessAuditLog)]
Grants = Annotated[store.BreakTheGlassRepository, repository(store.BreakTheGlassRepository)]
Anchors = Annotated[store.LedgerAnchorLog, repository(store.LedgerAnchorLog)]
Files = Annotated[store.CredentialFileRepository, repository(store.CredentialFileRepository)]
Chunks = Annotated[store.CredentialFileChunks, repository(store.CredentialFileChunks)]
