from halcyon.shared.settings import ServiceSettings
from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

# A placeholder for local runs and tests; the settings refuse it in production.
DEVELOPMENT_WEBHOOK_SECRET = "development-only-sms-webhook-secret"  # noqa: S105


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_NOTIFICATIONS_", extra="ignore")
    service_name: str = "notifications"

    # Email: any SMTP server (the dev sink: python -m halcyon.notifications.devsmtp).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_timeout_seconds: float = 10.0
    email_sender: str = "Halcyon <no-reply@halcyon.local>"
    # SMS provider HTTP API (the stand-in: python -m halcyon.notifications.devsms).
    sms_provider_url: str = "http://127.0.0.1:8125"
    sms_sender: str = "+15550000000"
    # The provider signs its webhooks (receipts, inbound STOP) with this shared secret.
    sms_webhook_secret: str = DEVELOPMENT_WEBHOOK_SECRET
    # Where links in messages (unsubscribe) point to: this service behind the gateway.
    public_base_url: str = "http://127.0.0.1:8000/api/notifications"
    # Delivery attempts before a message is dead, and the first retry delay (doubles).
    max_attempts: int = 4
    retry_base_seconds: float = 30.0
    # How often the (single, leased) worker looks for due reminders and deliveries.
    worker_poll_seconds: float = 1.0
    # A claimed reminder or delivery not finished after this long is claimed again
    # (its worker died); deterministic delivery ids keep that from sending twice.
    claim_timeout_seconds: float = 120.0

    @model_validator(mode="after")
    def _refuse_development_webhook_secret(self) -> "NotificationsSettings":
        if self.environment == "production" and (
            self.sms_webhook_secret == DEVELOPMENT_WEBHOOK_SECRET
        ):
            raise ValueError("set HALCYON_NOTIFICATIONS_SMS_WEBHOOK_SECRET for production")
        return self

    @property
    def test_clock_enabled(self) -> bool:
        # The controllable clock exists only when HALCYON_ENVIRONMENT=test.
        return self.environment == "test"
