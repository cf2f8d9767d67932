"""Claim lifecycle: which status may follow which."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from halcyon.shared.errors import Conflict

STATUSES = ("draft", "submitted", "accepted", "rejected", "paid", "denied", "appealed")

# submitted/accepted: the clearinghouse (999/277CA) answers; paid/denied come from the 835;
# a denial may be appealed, and an appeal ends paid or denied again. A rejected claim is
# fixed and re-batched as a new claim, so rejected is final for this one.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"submitted"}),
    "submitted": frozenset({"accepted", "rejected", "paid", "denied"}),
    "accepted": frozenset({"paid", "denied"}),
    "rejected": frozenset(),
    "paid": frozenset({"paid", "denied"}),  # a later 835 may adjust or take back
    "denied": frozenset({"appealed", "paid", "denied"}),
    "appealed": frozenset({"paid", "denied"}),
}


def check_transition(current: str, wanted: str) -> None:
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise Conflict(
            f"a claim that is {current} cannot become {wanted}",
            allowed=sorted(TRANSITIONS.get(current, frozenset())),
        )


def can_post_remittance(current: str) -> bool:
    return current in ("submitted", "accepted", "paid", "denied", "appealed")


# 005010X222A1: the 2400 service-line loop repeats at most 50 times per claim.
MAX_CLAIM_LINES = 50
_MONITORING_PRIMARY = "0820T"
_MONITORING_ADD_ONS = frozenset({"0821T", "0822T"})


def split_into_claims(
    lines: Sequence[tuple[date, str]], limit: int = MAX_CLAIM_LINES
) -> list[list[int]]:
    """Indexes of an encounter's lines, cut into claims of at most ``limit`` lines.

    An add-on code (0821T/0822T) travels on the same claim as its 0820T of the same
    date: a payer denies an add-on whose primary code is on another claim. Every line is
    on exactly one claim, in the original order, so each claim's total is the exact sum
    of its own lines and the claims together add up to the encounter.
    """
    groups: list[list[int]] = []
    by_date: dict[date, list[int]] = {}
    for index, (on, cpt) in enumerate(lines):
        if cpt == _MONITORING_PRIMARY or cpt in _MONITORING_ADD_ONS:
            if on not in by_date:
                by_date[on] = []
                groups.append(by_date[on])
            by_date[on].append(index)
        else:
            groups.append([index])
    claims: list[list[int]] = []
    for group in groups:
        if len(group) > limit:
            raise ValueError(f"{len(group)} monitoring lines on one date exceed {limit}")
        if not claims or len(claims[-1]) + len(group) > limit:
            claims.append([])
        claims[-1].extend(group)
    return claims
