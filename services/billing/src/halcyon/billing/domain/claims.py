"""Claim lifecycle: which status may follow which."""

from __future__ import annotations

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
