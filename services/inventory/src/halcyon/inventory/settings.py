from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_INVENTORY_", extra="ignore")
    service_name: str = "inventory"
    # A ledger operation older than this with no outcome is finished or undone by recovery.
    recovery_grace_seconds: float = 60.0
    recovery_interval_seconds: float = 30.0
    # How often deadlines and the biennial inventory are checked for alerts.
    compliance_sweep_seconds: float = 300.0
