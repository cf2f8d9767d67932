"""Whose rules apply at a site, and Australia's authorised-prescriber rule (ADR 0504).

Since 1 July 2023 the TGA lets only an authorised prescriber (approved under the
Authorised Prescriber Scheme, with a human research ethics committee's endorsement)
prescribe MDMA for post-traumatic stress disorder and psilocybin for treatment-resistant
depression (Therapeutic Goods Regulations 1990, reg 12B; Poisons Standard, Schedule 8
entries for MDMA and psilocybine). The approval is for one medicine and one indication.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from halcyon.shared.errors import RuleViolation

# Substances that need an authorised-prescriber approval at an Australian site, and the
# indication each protocol treats (words an approval's indication is matched against).
AUTHORISED_PRESCRIBER_SUBSTANCES = frozenset({"mdma", "psilocybin", "psilocybine"})
PROTOCOL_INDICATIONS: dict[str, tuple[str, ...]] = {
    "mdma-ptsd": ("ptsd", "post-traumatic stress disorder", "posttraumatic stress disorder"),
    "psilocybin-trd": ("treatment-resistant depression", "trd"),
}


def jurisdiction_of(site: Mapping[str, Any] | None) -> str:
    """The site's jurisdiction ("US-CO", "AU-VIC"…). A site that names none was announced
    before sites carried one: its zone tells an Australian site ("Australia/Melbourne");
    any other is a US site."""
    value = (site or {}).get("jurisdiction")
    if not value:
        zone = str((site or {}).get("timezone") or "")
        value = "AU" if zone.startswith("Australia/") else "US"
    return str(value).upper()


def is_australian(site: Mapping[str, Any] | None) -> bool:
    return jurisdiction_of(site).split("-")[0] == "AU"


def _same_substance(drug: str, substance: str) -> bool:
    names = {drug.strip().lower(), substance.strip().lower()}
    return names <= {"psilocybin", "psilocybine"} or len(names) == 1


def require_authorised_prescriber(
    site: Mapping[str, Any] | None,
    prescriber: Mapping[str, Any],
    substance: str,
    protocol_id: str | None,
    on: date,
) -> None:
    """At an Australian site, MDMA and psilocybin are dispensed only under the
    prescriber's active authorised-prescriber approval for that medicine and indication."""
    if substance.strip().lower() not in AUTHORISED_PRESCRIBER_SUBSTANCES:
        return
    if site is None:
        # Not assumed to be a US site: the rule that applies depends on where it is.
        raise RuleViolation(
            f"inventory has not been told about the site yet (identity announces it), so"
            f" it cannot tell whose rules apply to dispensing {substance}; try again shortly",
            field="location_id",
        )
    if not is_australian(site):
        return
    indications = PROTOCOL_INDICATIONS.get(protocol_id or "", ())
    name = prescriber.get("display_name", prescriber.get("_id"))
    problems = []
    for approval in prescriber.get("authorised_prescriber_approvals", []) or []:
        if not _same_substance(str(approval.get("drug", "")), substance):
            continue
        if date.fromisoformat(str(approval["expires_on"])) < on:
            problems.append(
                f"the approval for {approval.get('drug')} expired on {approval['expires_on']}"
            )
            continue
        indication = str(approval.get("indication") or "").strip().lower()
        if indication and indication in indications:
            return
        problems.append(
            f"the approval for {approval.get('drug')} is for {indication or 'no named indication'},"
            f" not {indications[0] if indications else protocol_id}"
        )
    detail = "; ".join(problems) or f"no approval for {substance} on file"
    raise RuleViolation(
        f"at an Australian site, {substance} is dispensed only under the prescriber's active"
        f" TGA authorised-prescriber approval for the indication: {name}: {detail}",
        rule="Therapeutic Goods Regulations 1990 reg 12B (Authorised Prescriber Scheme)",
        field="prescriber_id",
    )
