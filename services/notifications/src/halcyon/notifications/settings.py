from pydantic_settings import SettingsConfigDict

from halcyon.shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_NOTIFICATIONS_", extra="ignore")
    service_name: str = "notifications"
