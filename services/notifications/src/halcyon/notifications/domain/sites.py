"""How staff messages name a site."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def site_label(site: Mapping[str, Any] | None, site_id: str | None) -> str:
    """The site's name as the agency wrote it. Until identity's site event has arrived the
    alert still goes out at once (it may be urgent), saying which site in the only way
    known yet."""
    if site and site.get("name"):
        return str(site["name"])
    return f"site {site_id}" if site_id else "the agency"


def with_site_name(context: Mapping[str, Any], site: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**context, "site_name": site_label(site, context.get("site_id"))}
