"""What a message to a client may say about their care: by default, nothing clinical.

HIPAA's minimum-necessary standard (45 CFR 164.502(b)) and 42 CFR Part 2 (substance-use
treatment records) mean a reminder read by someone else on a lock screen must not reveal
a diagnosis, a medicine or the kind of treatment. A client may opt in to details.
"""

from __future__ import annotations

import re

# Words that must never reach a client unless they opted in to details.
CLINICAL_TERMS = (
    "mdma",
    "psilocybin",
    "ketamine",
    "esketamine",
    "psychedelic",
    "dosing",
    "dose",
    "ptsd",
    "diagnosis",
    "depression",
    "psychotherapy",
    "medication",
    "medicine",
    "substance",
    "protocol",
    "vitals",
    "preparation",
    "integration",
)
_TERMS = re.compile(r"\b(" + "|".join(CLINICAL_TERMS) + r")\b", re.IGNORECASE)

NEUTRAL_LABEL = {"en": "appointment", "es": "cita"}


def clinical_terms_in(text: str) -> list[str]:
    # Also catch terms glued to punctuation or underscores (mdma_dosing).
    return sorted({m.lower() for m in _TERMS.findall(text.replace("_", " "))})


def appointment_label(appointment_type: str, language: str, share_details: bool) -> str:
    """How a client message names the appointment: neutral unless the client opted in."""
    if share_details:
        return appointment_type.replace("_", " ")
    return NEUTRAL_LABEL.get(language, NEUTRAL_LABEL["en"])
