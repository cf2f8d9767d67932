from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_BILLING_", extra="ignore")
    service_name: str = "billing"
