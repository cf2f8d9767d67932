"""Small value types shared by the chart's rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]

# ICD-10-CM: a letter (U is reserved by WHO for special use, not a CM chapter), a digit,
# a digit or A/B (C4A, D3A, M1A), then after the dot up to four characters (the
# 7th-character extensions use letters and the placeholder X).
_ICD10_CM = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-Z]{1,4})?$")


def normalise_icd10(code: str) -> str:
    """``f4310`` or ``F43.10`` → ``F43.10``; anything not shaped like ICD-10-CM is refused."""
    raw = code.strip().upper()
    if "." not in raw and len(raw) > 3:
        raw = f"{raw[:3]}.{raw[3:]}"
    if not _ICD10_CM.match(raw):
        raise ValueError(f"{code!r} is not an ICD-10-CM code (e.g. F43.10)")
    return raw


Icd10Code = Annotated[str, AfterValidator(normalise_icd10)]


def aware(value: datetime) -> datetime:
    """Every timestamp is stored as timezone-aware UTC; naive input is refused."""
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone (e.g. 2026-11-27T15:00:00Z)")
    return value.astimezone(UTC)


AwareDatetime = Annotated[datetime, AfterValidator(aware)]


def utcnow() -> datetime:
    return datetime.now(UTC)
