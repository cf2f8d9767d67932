from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_IDENTITY_", extra="ignore")
    service_name: str = "identity"
