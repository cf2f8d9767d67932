"""Which roles a set of (site, role) grants gives at a site: the one rule every caller,
console session and staff read model uses. Pure, so domain code may import it."""

from __future__ import annotations

from collections.abc import Iterable

# A grant at this "site" holds at every site of the agency.
ALL_SITES = "*"


def roles_at(grants: Iterable[tuple[str, str]], site_id: str | None) -> set[str]:
    """The roles held at ``site_id``; with no site named, every role held anywhere."""
    return {role for site, role in grants if site in (ALL_SITES, site_id) or site_id is None}
