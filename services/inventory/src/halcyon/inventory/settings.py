from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_INVENTORY_", extra="ignore")
    service_name: str = "inventory"
