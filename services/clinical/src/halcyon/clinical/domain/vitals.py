"""Vital signs during a session, checked against the protocol's thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from halcyon.clinical.domain.common import AwareDatetime, Id
from halcyon.clinical.domain.protocols import Protocol, VitalsThresholds
from pydantic import BaseModel, ConfigDict, Field, model_validator

Phase = Literal["baseline", "pre_dose", "post_dose_40min", "during", "discharge"]


class VitalsReading(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocol_id: Id
    site_id: Id
    encounter_id: Id | None = None
    measured_at: AwareDatetime
    phase: Phase = "during"
    # Physiological limits, not alert thresholds: outside them is a typing error → 422.
    systolic_mmhg: Annotated[int, Field(ge=40, le=300)] | None = None
    diastolic_mmhg: Annotated[int, Field(ge=20, le=200)] | None = None
    pulse_per_min: Annotated[int, Field(ge=20, le=250)] | None = None
    temperature_c: Annotated[float, Field(ge=30.0, le=45.0)] | None = None
    spo2_percent: Annotated[int, Field(ge=50, le=100)] | None = None

    @model_validator(mode="after")
    def _something_measured(self) -> VitalsReading:
        values = (
            self.systolic_mmhg,
            self.diastolic_mmhg,
            self.pulse_per_min,
            self.temperature_c,
            self.spo2_percent,
        )
        if all(v is None for v in values):
            raise ValueError("a reading records at least one vital sign")
        if (self.systolic_mmhg is None) != (self.diastolic_mmhg is None):
            raise ValueError("blood pressure needs both systolic and diastolic")
        if (
            self.systolic_mmhg is not None
            and self.diastolic_mmhg is not None
            and self.diastolic_mmhg >= self.systolic_mmhg
        ):
            raise ValueError("diastolic must be below systolic")
        return self


def breaches(reading: VitalsReading, limits: VitalsThresholds) -> list[str]:
    """Human-readable breaches; strictly above a max (or below a min) alerts."""
    found: list[str] = []
    checks: list[tuple[str, float | None, float | None, str, bool]] = [
        ("systolic", reading.systolic_mmhg, limits.systolic_max, "mmHg", True),
        ("diastolic", reading.diastolic_mmhg, limits.diastolic_max, "mmHg", True),
        ("pulse", reading.pulse_per_min, limits.pulse_max, "/min", True),
        ("temperature", reading.temperature_c, limits.temperature_c_max, "°C", True),
        ("SpO2", reading.spo2_percent, limits.spo2_min, "%", False),
    ]
    for name, value, limit, unit, is_max in checks:
        if value is None or limit is None:
            continue
        if is_max and value > limit:
            found.append(f"{name} {value:g} > {limit:g} {unit}")
        if not is_max and value < limit:
            found.append(f"{name} {value:g} < {limit:g} {unit}")
    return found


def session_gaps(
    protocol: Protocol,
    readings: list[dict[str, Any]],
    dosed_at: datetime,
    discharged_at: datetime,
) -> list[str]:
    """What a session still lacks under the protocol (e.g. SPRAVATO REMS monitoring)."""
    gaps: list[str] = []
    rules = protocol.session
    if rules.minimum_monitoring_minutes is not None:
        minutes = (discharged_at - dosed_at).total_seconds() / 60
        if minutes < rules.minimum_monitoring_minutes:
            gaps.append(
                f"monitored {minutes:.0f} min after dosing; the protocol requires at least "
                f"{rules.minimum_monitoring_minutes} min"
            )
    with_bp = [r for r in readings if r.get("systolic_mmhg") is not None]
    for phase in rules.required_bp_phases:
        low, high = bp_window(phase, dosed_at, discharged_at)
        # The time it was measured decides, not the label a nurse picked.
        if not any(low <= _aware(r["measured_at"]) <= high for r in with_bp):
            gaps.append(f"no blood pressure recorded for phase {phase} ({BP_WINDOW_TEXT[phase]})")
    return gaps


# SPRAVATO REMS: BP before the dose, at ~40 minutes after it, and before discharge.
# "~40 minutes" is read as 30-50 minutes after the dose; "before the dose" as within the
# 2 hours before it; "before discharge" as within the 30 minutes before the session ends.
POST_DOSE_WINDOW_MINUTES = (30, 50)
PRE_DOSE_LOOKBACK_MINUTES = 120
DISCHARGE_LOOKBACK_MINUTES = 30
BP_WINDOW_TEXT = {
    "pre_dose": f"within {PRE_DOSE_LOOKBACK_MINUTES} min before the dose",
    "post_dose_40min": (
        f"{POST_DOSE_WINDOW_MINUTES[0]}-{POST_DOSE_WINDOW_MINUTES[1]} min after the dose"
    ),
    "discharge": f"within {DISCHARGE_LOOKBACK_MINUTES} min before discharge",
}


def bp_window(phase: str, dosed_at: datetime, discharged_at: datetime) -> tuple[datetime, datetime]:
    """The instants between which a blood pressure counts for a REMS phase (inclusive)."""
    if phase == "pre_dose":
        return dosed_at - timedelta(minutes=PRE_DOSE_LOOKBACK_MINUTES), dosed_at
    if phase == "post_dose_40min":
        low, high = POST_DOSE_WINDOW_MINUTES
        return dosed_at + timedelta(minutes=low), dosed_at + timedelta(minutes=high)
    return discharged_at - timedelta(minutes=DISCHARGE_LOOKBACK_MINUTES), discharged_at


def _aware(value: datetime) -> datetime:
    # Instants read back from the database may be naive; they are UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def monitoring_form_due(protocol: Protocol, session_date: datetime) -> datetime | None:
    days = protocol.session.monitoring_form_due_days
    return session_date + timedelta(days=days) if days is not None else None
