"""Text field types for request models (ADR 0010).

The input guard (``halcyon.shared.http.guard``) already refuses NUL and control
characters in every JSON string; these types add what only the field knows: how long
it may be and whether it is one line. Use them in pydantic models:

    class ClientIn(BaseModel):
        given_name: Name
        notes: FreeText | None = None
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAK = re.compile("[\r\n\t\u2028\u2029]")


def _free_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed (tab and newline are)")
    return value


def _one_line(value: str) -> str:
    _free_text(value)
    if _LINE_BREAK.search(value):
        raise ValueError("must be one line: no tab or line break")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_one_line),
]
"""A person's, place's or thing's name: one line, 1-200 characters."""

Line = Annotated[str, StringConstraints(max_length=500), AfterValidator(_one_line)]
"""A short one-line text (an address line, a reason, a label)."""

Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_one_line),
]
"""A code or external identifier (CPT, NDC, payer id)."""

FreeText = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(_free_text)]
"""Free text a person writes (notes, instructions): tab and newline allowed."""
