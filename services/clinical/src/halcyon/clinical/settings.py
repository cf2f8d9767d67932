from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class ClinicalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_CLINICAL_", extra="ignore")
    service_name: str = "clinical"
