from halcyon.shared.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_BILLING_", extra="ignore")
    service_name: str = "billing"
    # Billing has many collections and every write wakes the relay at once, so the
    # fallback poll (for events written by another instance) can be slower.
    outbox_poll_seconds: float = 1.0
    # A payer's 835 remittance file may be up to 10 MiB (api/remittances.py streams and
    # enforces the same figure); every other route keeps the shared 1 MiB limit.
    larger_bodies: dict[str, int] = Field(
        default_factory=lambda: {"/remittances": 10 * 1024 * 1024}
    )
