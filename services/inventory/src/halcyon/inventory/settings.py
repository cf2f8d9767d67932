from pydantic_settings import SettingsConfigDict

from halcyon.shared.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_INVENTORY_", extra="ignore")
    service_name: str = "inventory"
