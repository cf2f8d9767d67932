from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_GATEWAY_", extra="ignore")
    service_name: str = "gateway"
