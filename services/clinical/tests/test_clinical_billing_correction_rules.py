"""An addendum's billing correction obeys the same diagnosis rules as the signed note."""

from __future__ import annotations

import pytest
from halcyon.clinical.domain.notes import BillingCorrection
from pydantic import ValidationError


def test_a_correction_listing_a_diagnosis_twice_is_refused() -> None:
    """The note refuses a diagnosis listed twice, the addendum's correction did not: billing
    then received HI with the same code twice, which a clearinghouse rejects."""
    with pytest.raises(ValidationError, match="listed twice"):
        BillingCorrection(diagnoses=["F43.10", "F43.10"])
    assert BillingCorrection(diagnoses=["F43.10", "F11.20"]).diagnoses == ["F43.10", "F11.20"]
