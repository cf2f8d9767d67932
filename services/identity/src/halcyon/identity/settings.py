"""Identity settings: token lifetimes, lockout, the platform operator's secret."""

from __future__ import annotations

from halcyon.shared.settings import DEVELOPMENT_SECRET, ServiceSettings
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_IDENTITY_", extra="ignore")
    service_name: str = "identity"
    # A scanned credential file may be up to 10 MiB (read again with the same limit).
    larger_bodies: dict[str, int] = Field(
        default_factory=lambda: {"/staff/{staff_id}/credential-files": 10 * 1024 * 1024}
    )

    # Bootstraps agencies (POST /agencies) and registers service clients. Never the
    # development default in production: refused at start-up below.
    platform_operator_secret: str = DEVELOPMENT_SECRET
    # Short-lived access tokens; the refresh token carries the session.
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 12 * 3600
    service_token_ttl_seconds: int = 900
    break_the_glass_ttl_seconds: int = 1800
    lockout_max_failures: int = 5
    lockout_seconds: int = 900
    password_reset_ttl_seconds: int = 1800
    # Reset links are emailed by identity itself (halcyon.identity.mail): SMTP server,
    # sender, and the console page that takes the token.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    mail_from: str = "Halcyon <no-reply@halcyon.local>"
    # (a URL, not a secret: the rule only sees "password" in the name)
    password_reset_url: str = "http://127.0.0.1:8000/console/reset-password"  # noqa: S105
    # How often the credential-expiry job looks (it is idempotent per credential).
    credential_scan_interval_seconds: float = 86400.0
    credential_warning_days: int = 30
    # The operator's internal listener (ADR 0105): when set, operator paths answer only
    # here, never on the public port.
    admin_port: int | None = None
    admin_host: str = "127.0.0.1"

    @model_validator(mode="after")
    def _refuse_development_operator_secret(self) -> IdentitySettings:
        if self.environment == "production" and self.platform_operator_secret == DEVELOPMENT_SECRET:
            raise ValueError(
                "HALCYON_IDENTITY_PLATFORM_OPERATOR_SECRET is the development default; set a real "
                "secret before running with HALCYON_ENVIRONMENT=production"
            )
        if self.environment == "production" and len(self.platform_operator_secret) < 32:
            raise ValueError("the platform operator secret must be at least 32 characters")
        return self
