"""Appointment types and psychedelic protocols: scheduling rules kept as data, not code.

An agency can override any default (``PUT /appointment-types/{code}``); the defaults
encode the published protocols so a fresh agency books safely from day one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ProtocolStep = Literal["preparation", "dosing", "integration"]


class RoleRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(min_length=1, max_length=64, description="e.g. therapist, prescriber")
    count: int = Field(ge=1, le=10)


class AppointmentType(BaseModel):
    """What one kind of appointment needs: how long, who, which room, which protocol step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name: str = Field(min_length=1, max_length=200)
    duration_minutes: int = Field(ge=5, le=12 * 60)
    required_roles: tuple[RoleRequirement, ...] = Field(min_length=1)
    # Room attribute the room must have; None with telehealth=False means "any room".
    room_attribute: str | None = None
    telehealth: bool = False
    protocol_id: str | None = None
    protocol_step: ProtocolStep | None = None
    # How many of the clinicians must hold an active licence on the day.
    licensed_clinicians_required: int = Field(default=0, ge=0, le=10)
    # For the insurance-authorization warning (billing's units are per CPT code).
    cpt: str | None = None
    units: int = Field(default=1, ge=1, le=100)
    # Cancelling closer than this to the start is a late cancel (agency policy).
    late_cancel_hours: int = Field(default=24, ge=0, le=24 * 14)
    # More than one client: a group session the clients join (limited by room capacity).
    max_clients: int = Field(default=1, ge=1, le=50)

    def clinicians_needed(self) -> int:
        return sum(r.count for r in self.required_roles)


class ProtocolRules(BaseModel):
    """A psychedelic treatment protocol's scheduling rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol_id: str
    name: str
    consent_kind: str = "psychedelic_informed"
    preparation_type: str
    preparation_sessions_required: int = Field(ge=0)
    dosing_type: str
    min_days_between_dosing: int = Field(ge=0)
    integration_type: str
    integration_sessions_after_dosing: int = Field(ge=0)
    # Days after the dosing session at which integration sessions are proposed.
    integration_offsets_days: tuple[int, ...] = (1, 7, 14)


def _therapists(n: int) -> tuple[RoleRequirement, ...]:
    return (RoleRequirement(role="therapist", count=n),)


DEFAULT_TYPES: dict[str, AppointmentType] = {
    t.code: t
    for t in [
        AppointmentType(
            code="intake",
            name="Intake assessment",
            duration_minutes=60,
            required_roles=_therapists(1),
            cpt="90791",
        ),
        AppointmentType(
            code="psychotherapy",
            name="Individual psychotherapy",
            duration_minutes=53,
            required_roles=_therapists(1),
            cpt="90837",
        ),
        AppointmentType(
            code="telehealth_psychotherapy",
            name="Individual psychotherapy by video",
            duration_minutes=53,
            required_roles=_therapists(1),
            telehealth=True,
            cpt="90837",
        ),
        AppointmentType(
            code="group",
            name="Group psychotherapy",
            duration_minutes=90,
            required_roles=_therapists(1),
            room_attribute="group_room",
            cpt="90853",
            max_clients=8,
        ),
        AppointmentType(
            code="mdma_preparation",
            name="MDMA-assisted therapy: preparation",
            duration_minutes=90,
            required_roles=_therapists(1),
            protocol_id="mdma-ptsd",
            protocol_step="preparation",
            cpt="90837",
        ),
        # MAPS MAPP protocol: an 8-hour session with a co-therapy dyad in a dosing room.
        AppointmentType(
            code="mdma_dosing",
            name="MDMA-assisted therapy: dosing session",
            duration_minutes=8 * 60,
            required_roles=_therapists(2),
            room_attribute="dosing_room",
            protocol_id="mdma-ptsd",
            protocol_step="dosing",
            licensed_clinicians_required=1,
            cpt="0820T",
            late_cancel_hours=72,
        ),
        # SPRAVATO REMS: a certified setting, at least 2 hours of monitoring after the dose.
        AppointmentType(
            code="esketamine_dosing",
            name="Esketamine (SPRAVATO) session under the REMS",
            duration_minutes=150,
            required_roles=_therapists(1),
            room_attribute="rems_certified",
            protocol_id="esketamine-trd",
            protocol_step="dosing",
            licensed_clinicians_required=1,
            cpt="0820T",
            late_cancel_hours=24,
        ),
        AppointmentType(
            code="psilocybin_preparation",
            name="Psilocybin: preparation session",
            duration_minutes=60,
            required_roles=_therapists(1),
            protocol_id="psilocybin-trd",
            protocol_step="preparation",
            cpt="90837",
        ),
        # Supervised psilocybin: a facilitator present for the whole ~6-hour session.
        AppointmentType(
            code="psilocybin_dosing",
            name="Psilocybin: administration session",
            duration_minutes=6 * 60,
            required_roles=_therapists(1),
            room_attribute="dosing_room",
            protocol_id="psilocybin-trd",
            protocol_step="dosing",
            cpt="0820T",
            late_cancel_hours=72,
        ),
        AppointmentType(
            code="psilocybin_integration",
            name="Psilocybin: integration session",
            duration_minutes=60,
            required_roles=_therapists(1),
            protocol_id="psilocybin-trd",
            protocol_step="integration",
            cpt="90837",
        ),
        AppointmentType(
            code="mdma_integration",
            name="MDMA-assisted therapy: integration",
            duration_minutes=90,
            required_roles=_therapists(1),
            protocol_id="mdma-ptsd",
            protocol_step="integration",
            cpt="90837",
        ),
    ]
}

DEFAULT_PROTOCOLS: dict[str, ProtocolRules] = {
    "mdma-ptsd": ProtocolRules(
        protocol_id="mdma-ptsd",
        name="MDMA-assisted therapy for PTSD",
        preparation_type="mdma_preparation",
        preparation_sessions_required=3,
        dosing_type="mdma_dosing",
        # Dosing sessions are roughly a month apart (MAPP1/MAPP2: 3-5 weeks).
        min_days_between_dosing=28,
        integration_type="mdma_integration",
        integration_sessions_after_dosing=3,
    ),
    # Induction is twice weekly: no preparation series, no interval rule of its own.
    "esketamine-trd": ProtocolRules(
        protocol_id="esketamine-trd",
        name="Esketamine (SPRAVATO) for treatment-resistant depression, under the REMS",
        preparation_type="psychotherapy",
        preparation_sessions_required=0,
        dosing_type="esketamine_dosing",
        min_days_between_dosing=0,
        integration_type="psychotherapy",
        integration_sessions_after_dosing=0,
    ),
    "psilocybin-trd": ProtocolRules(
        protocol_id="psilocybin-trd",
        name="Supervised psilocybin (adult-use service / research protocol)",
        preparation_type="psilocybin_preparation",
        preparation_sessions_required=1,
        dosing_type="psilocybin_dosing",
        min_days_between_dosing=0,
        integration_type="psilocybin_integration",
        integration_sessions_after_dosing=1,
        integration_offsets_days=(1,),
    ),
}
