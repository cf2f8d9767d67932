from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class SchedulingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_SCHEDULING_", extra="ignore")
    service_name: str = "scheduling"
