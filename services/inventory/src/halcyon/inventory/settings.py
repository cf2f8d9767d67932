from halcyon.shared.settings import ServiceSettings
from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

# For development and tests only: refused when HALCYON_ENVIRONMENT=production.
DEVELOPMENT_LEDGER_KEY = "development-only-ledger-key-change-me"


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_INVENTORY_", extra="ignore")
    service_name: str = "inventory"
    # A ledger operation older than this with no outcome is finished or undone by recovery.
    recovery_grace_seconds: float = 60.0
    recovery_interval_seconds: float = 30.0
    # How often deadlines and the biennial inventory are checked for alerts.
    compliance_sweep_seconds: float = 300.0
    # The ledger chain's HMAC key (ADR 0503), HALCYON_INVENTORY_LEDGER_KEY: kept outside
    # the database, so someone who can edit the database cannot recompute the chain.
    ledger_key: str = DEVELOPMENT_LEDGER_KEY
    # How often each chain's head is anchored outside inventory's database.
    anchor_interval_seconds: float = 300.0

    @model_validator(mode="after")
    def _refuse_development_ledger_key_in_production(self) -> "InventorySettings":
        if self.environment == "production" and self.ledger_key == DEVELOPMENT_LEDGER_KEY:
            raise ValueError(
                "HALCYON_INVENTORY_LEDGER_KEY is the development default; set a real secret"
                " (kept outside the database) before running with HALCYON_ENVIRONMENT=production"
            )
        if len(self.ledger_key) < 16:
            raise ValueError("HALCYON_INVENTORY_LEDGER_KEY must be at least 16 characters")
        return self

    @property
    def ledger_key_bytes(self) -> bytes:
        return self.ledger_key.encode()
