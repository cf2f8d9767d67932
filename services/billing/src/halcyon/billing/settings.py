from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_BILLING_", extra="ignore")
    service_name: str = "billing"
    # Billing has many collections and every write wakes the relay at once, so the
    # fallback poll (for events written by another instance) can be slower.
    outbox_poll_seconds: float = 1.0
