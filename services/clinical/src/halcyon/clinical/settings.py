from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class ClinicalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_CLINICAL_", extra="ignore")
    service_name: str = "clinical"
    # How often expired consents are looked for and announced (ConsentChanged "expired").
    consent_sweep_seconds: float = 60.0
