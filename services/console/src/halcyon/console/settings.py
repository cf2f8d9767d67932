"""Console settings: env prefix ``HALCYON_CONSOLE_``."""

from __future__ import annotations

from halcyon.shared.settings import DEVELOPMENT_SECRET, ServiceSettings
from pydantic_settings import SettingsConfigDict


class ConsoleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_CONSOLE_", extra="ignore")
    service_name: str = "console"
    # The public gateway: the console calls /api/... there with each person's own token,
    # exactly as any other client would (it holds no privileges of its own).
    gateway_url: str = "http://127.0.0.1:8000"
    # Signs the session cookie (which only holds a random session id).
    cookie_secret: str = DEVELOPMENT_SECRET
    # Cookie sent only over HTTPS; off for local http://127.0.0.1 use.
    cookie_secure: bool = False
    # Automatic logoff after this much inactivity (HIPAA 45 CFR 164.312(a)(2)(iii)).
    idle_timeout_seconds: int = 15 * 60
    # Upper bound on one sign-in, whatever the refresh token would still allow.
    absolute_timeout_seconds: int = 12 * 3600
    api_timeout_seconds: float = 30.0
