from halcyon.shared.service import ServiceRuntime
from halcyon.shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class SchedulingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_SCHEDULING_", extra="ignore")
    service_name: str = "scheduling"
    # How long a waitlist client has to take a freed slot, and how often offers are swept.
    waitlist_offer_seconds: int = 2 * 60 * 60
    waitlist_sweep_seconds: float = 30.0
    # Late-cancel notice when an appointment type does not set its own.
    late_cancel_hours: int = 24
    video_base_url: str = "https://video.halcyon.health/rooms"


# The running service as scheduling sees it: its own settings, and no parts of its own
# (everything it needs is a repository).
SchedulingRuntime = ServiceRuntime[SchedulingSettings, None]
