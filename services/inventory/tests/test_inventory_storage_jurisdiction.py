"""Storage (21 CFR 1301.75(b)) and Australian authorised prescribers (ADR 0504), no servers."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from halcyon.inventory.domain.jurisdiction import is_australian, require_authorised_prescriber
from halcyon.inventory.domain.rules import require_secure_storage
from halcyon.shared.errors import RuleViolation

REGISTRATION = {"_id": "reg-1", "site_id": "site-1", "dea_number": "RD1234567"}
SAFE = {"_id": "safe", "name": "Safe", "kind": "safe", "locked": True, "registration_id": "reg-1"}
ON = date(2026, 12, 5)


@pytest.mark.parametrize("schedule", ["I", "II"])
def test_schedule_i_ii_only_into_a_registered_locked_safe_or_cabinet(schedule: str) -> None:
    require_secure_storage(schedule, SAFE, REGISTRATION)
    with pytest.raises(RuleViolation, match="unlocked") as unlocked:
        require_secure_storage(schedule, {**SAFE, "locked": False}, REGISTRATION)
    assert unlocked.value.extensions["rule"] == "21 CFR 1301.75(b)"
    with pytest.raises(RuleViolation, match="locked safe, cabinet or vault"):
        require_secure_storage(schedule, {**SAFE, "kind": "other"}, REGISTRATION)
    with pytest.raises(RuleViolation, match="not a storage location registered"):
        require_secure_storage(schedule, {**SAFE, "registration_id": "reg-2"}, REGISTRATION)
    with pytest.raises(RuleViolation, match="not a storage location registered"):
        require_secure_storage(schedule, {**SAFE, "site_id": "site-9"}, REGISTRATION)


def test_schedule_iii_v_may_go_to_other_storage() -> None:
    require_secure_storage("III", {**SAFE, "kind": "other", "locked": False}, REGISTRATION)


def prescriber(*approvals: dict[str, Any]) -> dict[str, Any]:
    return {"_id": "p", "display_name": "Dr P", "authorised_prescriber_approvals": list(approvals)}


AU = {"jurisdiction": "AU-VIC"}
MDMA_PTSD = {
    "drug": "MDMA",
    "ethics_approval": "HREC-1",
    "expires_on": "2027-06-30",
    "indication": "PTSD",
}


def test_an_australian_site_needs_an_active_approval_for_the_indication() -> None:
    require_authorised_prescriber(AU, prescriber(MDMA_PTSD), "MDMA", "mdma-ptsd", ON)
    with pytest.raises(RuleViolation, match="no approval for MDMA"):
        require_authorised_prescriber(AU, prescriber(), "MDMA", "mdma-ptsd", ON)
    expired = {**MDMA_PTSD, "expires_on": "2026-12-04"}
    with pytest.raises(RuleViolation, match="expired"):
        require_authorised_prescriber(AU, prescriber(expired), "MDMA", "mdma-ptsd", ON)
    with pytest.raises(RuleViolation, match="not treatment-resistant depression"):
        require_authorised_prescriber(
            AU,
            prescriber(MDMA_PTSD, {**MDMA_PTSD, "drug": "psilocybin"}),
            "psilocybin",
            "psilocybin-trd",
            ON,
        )
    with pytest.raises(RuleViolation, match="no named indication"):
        require_authorised_prescriber(
            AU, prescriber({**MDMA_PTSD, "indication": None}), "MDMA", "mdma-ptsd", ON
        )
    psilocybin = {
        **MDMA_PTSD,
        "drug": "Psilocybine",
        "indication": "treatment-resistant depression",
    }
    require_authorised_prescriber(AU, prescriber(psilocybin), "psilocybin", "psilocybin-trd", ON)


def test_us_sites_and_other_substances_are_not_bound_by_the_tga_scheme() -> None:
    require_authorised_prescriber({"jurisdiction": "US-CO"}, prescriber(), "MDMA", "mdma-ptsd", ON)
    require_authorised_prescriber(AU, prescriber(), "esketamine", "esketamine-trd", ON)
    assert is_australian({"jurisdiction": "au"})
    assert not is_australian({})


def test_an_australian_site_announced_before_jurisdictions_existed_is_still_australian() -> None:
    """Sites announced before ``jurisdiction`` was added carry only their zone: a
    Melbourne site was read as a US site and MDMA dispensed without any TGA approval.
    A site inventory has not heard of at all is not assumed to be a US one either."""
    melbourne = {"_id": "site-mel", "timezone": "Australia/Melbourne"}
    assert is_australian(melbourne)
    with pytest.raises(RuleViolation, match="authorised-prescriber"):
        require_authorised_prescriber(melbourne, prescriber(), "MDMA", "mdma-ptsd", ON)
    with pytest.raises(RuleViolation, match="has not been told about the site"):
        require_authorised_prescriber(None, prescriber(), "MDMA", "mdma-ptsd", ON)
    require_authorised_prescriber(None, prescriber(), "esketamine", "esketamine-trd", ON)
    require_authorised_prescriber(
        {"timezone": "America/Denver"}, prescriber(), "MDMA", "mdma-ptsd", ON
    )
