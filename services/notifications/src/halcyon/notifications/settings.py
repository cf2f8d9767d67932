from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_NOTIFICATIONS_", extra="ignore")
    service_name: str = "notifications"
