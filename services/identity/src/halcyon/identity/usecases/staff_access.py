"""Who may act on a staff member's records: a role held at every site they work at."""

from __future__ import annotations

from halcyon.shared.auth import ALL_SITES, Caller


def require_at_every_site(caller: Caller, roles: set[str], sites: set[str]) -> None:
    """The caller holds one of ``roles`` at every site of ``sites``; a person who works
    agency-wide ("*"), or nowhere yet, needs it agency-wide."""
    caller.require(roles, ALL_SITES if ALL_SITES in sites or not sites else None)
    for site in sorted(sites - {ALL_SITES}):
        caller.require(roles, site)
