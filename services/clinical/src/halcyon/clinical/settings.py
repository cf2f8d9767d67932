from halcyon.shared.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class ClinicalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HALCYON_CLINICAL_", extra="ignore")
    service_name: str = "clinical"
    # How often expired consents are looked for and announced (ConsentChanged "expired").
    consent_sweep_seconds: float = 60.0
    # How often the bulk export worker looks for export jobs to run.
    export_poll_seconds: float = 1.0
    # How often signed REMS sessions get their monitoring-form deadline and reminders.
    rems_form_sweep_seconds: float = 60.0
    # A scanned document may be up to 10 MiB (api/documents.py reads it with the same
    # limit); every other route keeps the shared 1 MiB.
    larger_bodies: dict[str, int] = Field(
        default_factory=lambda: {"/clients/{client_id}/documents": 10 * 1024 * 1024}
    )
