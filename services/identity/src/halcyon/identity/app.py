"""Identity service wiring."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from halcyon.identity import handlers
from halcyon.identity.admin_listener import (
    OperatorPathsOnAdminListener,
    admin_server,
    serve_admin,
)
from halcyon.identity.api import audit, auth, credential_files, directory, platform
from halcyon.identity.jobs import CredentialExpiryJob
from halcyon.identity.keys import LocalAuthenticator, SigningKeys
from halcyon.identity.settings import IdentitySettings
from halcyon.identity.store import (
    AccessAuditLog,
    AgencyRepository,
    BreakTheGlassRepository,
    ClientDirectory,
    CredentialFileChunks,
    CredentialFileRepository,
    LedgerAnchorLog,
    PasswordResetRepository,
    RefreshTokenRepository,
    RevocationRepository,
    ServiceClientRepository,
    SigningKeyRepository,
    SiteRepository,
    StaffRepository,
)
from halcyon.shared.contracts.identity import (
    AccessRevoked,
    CredentialExpiring,
    SiteChanged,
    StaffMemberChanged,
)
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.service import ServiceRuntime, ServiceWiring, create_service_app

settings = IdentitySettings()


def _wire(runtime: ServiceRuntime) -> None:
    """Runs at start-up, before the first request: keys, the verifier, the expiry job."""
    cipher = FieldCipher(settings.field_encryption_key)
    longest = max(
        settings.access_token_ttl_seconds,
        settings.break_the_glass_ttl_seconds,
        settings.service_token_ttl_seconds,
    )
    keys = SigningKeys(
        runtime.repo(SigningKeyRepository), cipher, longest_token_ttl=timedelta(seconds=longest)
    )
    runtime.extras.update(
        cipher=cipher,
        keys=keys,
        credential_job=CredentialExpiryJob(
            runtime.repo(StaffRepository),
            runtime.repo(AgencyRepository),
            window_days=settings.credential_warning_days,
        ),
    )
    # Identity verifies its own tokens from its key table, not over HTTP from itself.
    app.state.authenticator = LocalAuthenticator(
        keys, audience=settings.jwt_audience, issuer=settings.jwt_issuer
    )


async def _credential_expiry(runtime: ServiceRuntime) -> Any:
    job: CredentialExpiryJob = runtime.extras["credential_job"]
    await job.run_forever(runtime.database, settings.credential_scan_interval_seconds)


async def _operator_listener(runtime: ServiceRuntime) -> None:
    await serve_admin(_admin, runtime)


wiring = ServiceWiring(
    title="Halcyon identity",
    description=(
        "Agencies, sites, staff personnel files, sign-in and tokens (JWKS), "
        "the access audit log and break-the-glass."
    ),
    routers=[
        auth.router,
        directory.router,
        credential_files.router,
        audit.router,
        audit.append_only,
        platform.router,
    ],
    repositories=[
        AgencyRepository,
        SiteRepository,
        StaffRepository,
        RefreshTokenRepository,
        PasswordResetRepository,
        SigningKeyRepository,
        ServiceClientRepository,
        AccessAuditLog,
        BreakTheGlassRepository,
        LedgerAnchorLog,
        RevocationRepository,
        ClientDirectory,
        CredentialFileRepository,
        CredentialFileChunks,
    ],
    publishes=[SiteChanged, StaffMemberChanged, CredentialExpiring, AccessRevoked],
    handlers=handlers.register,
    on_start=[_wire, _credential_expiry, _operator_listener],
)

app = create_service_app(settings, wiring)
app.add_middleware(OperatorPathsOnAdminListener, settings=settings)
_admin = admin_server(app, settings)
