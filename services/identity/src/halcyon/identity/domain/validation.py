"""Identifier checks: NPI (Luhn with the 80840 prefix), DEA registration numbers, time zones."""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_DEA = re.compile(r"^[ABCDEFGHJKLMPRSTUX][A-Z9][0-9]{7}$")
DEA_SCHEDULES = frozenset({"I", "II", "IIN", "III", "IIIN", "IV", "V"})


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def npi_valid(npi: str) -> bool:
    """CMS NPI check digit: Luhn over ``80840`` + the ten digits (45 CFR 162.406)."""
    return len(npi) == 10 and npi.isdigit() and npi[0] in "12" and luhn_valid("80840" + npi)


def dea_number_valid(number: str) -> bool:
    """DEA registration number: two letters, six digits and a check digit."""
    if not _DEA.match(number):
        return False
    d = [int(c) for c in number[2:]]
    check = (d[0] + d[2] + d[4]) + 2 * (d[1] + d[3] + d[5])
    return check % 10 == d[6]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # Scanning the tz database is slow; it does not change while the process runs.
    return frozenset(available_timezones())


def timezone_valid(name: str) -> bool:
    if name not in _zones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
