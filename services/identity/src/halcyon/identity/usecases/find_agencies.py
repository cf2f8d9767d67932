"""Sign-in by email: which agencies may this email sign in to?"""

from __future__ import annotations

from dataclasses import dataclass

from halcyon.identity.store import AgencyRepository, StaffRepository


@dataclass(frozen=True)
class AgencyChoice:
    agency_id: str
    name: str


async def agencies_for_email(
    email: str, staff: StaffRepository, agencies: AgencyRepository
) -> list[AgencyChoice]:
    """Sorted by name, so a chooser reads the same each time.

    An unknown email gets an empty list in the same shape: the answer tells no more than
    the sign-in itself would (the gateway's rate limit bounds how fast anyone can ask).
    """
    ids = await staff.agencies_of(email)
    if not ids:
        return []
    names = await agencies.names(ids)
    choices = [AgencyChoice(i, names[i]) for i in ids if i in names]
    return sorted(choices, key=lambda c: (c.name.lower(), c.agency_id))
