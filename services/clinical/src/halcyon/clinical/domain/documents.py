"""Documents in a client's chart: scanned consents, releases of information, outside
records, IDs and insurance cards. What a file may be and how it is kept are the shared
file rules (``halcyon.shared.files``); the chart adds what kind of document it is."""

from __future__ import annotations

from typing import Literal

Category = Literal[
    "consent", "release_of_information", "outside_records", "identification", "insurance_card",
    "other",
]  # fmt: skip
