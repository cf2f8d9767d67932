from __future__ import annotations

from dataclasses import dataclass

from halcyon.shared.crypto import FieldCipher
from halcyon.shared.service import ServiceRuntime
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


@dataclass(frozen=True)
class ClinicalParts:
    """Clinical's long-lived parts: the cipher that seals national ids and documents."""

    cipher: FieldCipher


ClinicalRuntime = ServiceRuntime[ClinicalSettings, ClinicalParts]


def clinical_parts(runtime: ClinicalRuntime) -> ClinicalParts:
    return ClinicalParts(cipher=FieldCipher(runtime.settings.field_encryption_key))
