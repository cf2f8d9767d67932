"""What a site's DEA registration may cover (21 CFR 1301.13, 1301.18); pure rules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from halcyon.inventory.domain.models import RegistrationIn
from halcyon.inventory.domain.substances import covers
from halcyon.shared.errors import RuleViolation


def check_registration(body: RegistrationIn, site: Mapping[str, Any] | None, today: date) -> None:
    """A registration at an active site, Schedule I only for research under a protocol,
    matching identity's certificate when the site lists any, and not yet expired."""
    if site is None or not site.get("active", True):
        raise RuleViolation(
            f"site {body.site_id} is not an active site known to inventory (from identity)",
            field="site_id",
        )
    if "I" in body.schedules and (body.kind != "researcher" or not body.protocol_id):
        raise RuleViolation(
            "Schedule I is held only under a researcher registration tied to a protocol",
            rule="21 CFR 1301.18",
            field="schedules",
        )
    listed = {r["number"]: r for r in site.get("dea_registrations", [])}
    if listed:
        check_certificate(body, listed.get(body.dea_number))
    if body.expires_on <= today:
        raise RuleViolation("the registration has already expired", field="expires_on")


def check_certificate(body: RegistrationIn, certificate: Mapping[str, Any] | None) -> None:
    """Identity keeps the site's DEA certificates: the registration must be one of them,
    for no more schedules than the certificate (and, for Schedule I, its protocol)."""
    if certificate is None:
        raise RuleViolation(
            f"identity lists no DEA registration {body.dea_number} for site {body.site_id}",
            field="dea_number",
        )
    uncovered = [s for s in body.schedules if not covers(certificate["schedules"], s)]
    if uncovered:
        raise RuleViolation(
            f"DEA registration {body.dea_number} does not cover Schedule {', '.join(uncovered)}",
            rule="21 CFR 1301.13",
            field="schedules",
        )
    if "I" in body.schedules and certificate.get("protocol_id") != body.protocol_id:
        raise RuleViolation(
            f"the Schedule I registration is for protocol {certificate.get('protocol_id')}",
            rule="21 CFR 1301.18",
            field="protocol_id",
        )
