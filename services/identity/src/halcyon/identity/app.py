"""Identity service wiring."""

from __future__ import annotations

from datetime import timedelta

from halcyon.identity import handlers
from halcyon.identity.admin_listener import (
    OperatorPathsOnAdminListener,
    admin_server,
    serve_admin,
)
from halcyon.identity.api import audit, auth, credential_files, directory, platform
from halcyon.identity.jobs import CredentialExpiryJob
from halcyon.identity.keys import LocalAuthenticator, SigningKeys
from halcyon.identity.runtime import IdentityParts, IdentityRuntime, IdentityWiring
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
from halcyon.shared.service import create_service_app

settings = IdentitySettings()


def _parts(runtime: IdentityRuntime) -> IdentityParts:
    """Built at start-up, once the repositories exist: the cipher and the signing keys."""
    cipher = FieldCipher(settings.field_encryption_key)
    longest = max(
        settings.access_token_ttl_seconds,
        settings.break_the_glass_ttl_seconds,
        settings.service_token_ttl_seconds,
    )
    keys = SigningKeys(
        runtime.repo(SigningKeyRepository), cipher, longest_token_ttl=timedelta(seconds=longest)
    )
    # Identity verifies its own tokens from its key table, not over HTTP from itself.
    app.state.authenticator = LocalAuthenticator(
        keys, audience=settings.jwt_audience, issuer=settings.jwt_issuer
    )
    return IdentityParts(cipher=cipher, keys=keys)


async def _credential_expiry(runtime: IdentityRuntime) -> None:
    job = CredentialExpiryJob(
        runtime.repo(StaffRepository),
        runtime.repo(AgencyRepository),
        runtime,
        window_days=settings.credential_warning_days,
    )
    await job.run_forever(runtime.database, settings.credential_scan_interval_seconds)


async def _operator_listener(_runtime: IdentityRuntime) -> None:
    await serve_admin(_admin)


wiring: IdentityWiring = IdentityWiring(
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
    parts=_parts,
    on_start=[_credential_expiry, _operator_listener],
)

app = create_service_app(settings, wiring)
app.add_middleware(OperatorPathsOnAdminListener, settings=settings)
_admin = admin_server(app, settings)
