"""What notifications' routers share: roles, strict bodies, the invalid-cursor rule."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from halcyon.shared.errors import InvalidCursor
from pydantic import BaseModel, ConfigDict

ADMINS = frozenset({"agency_admin"})
CLIENT_PREFERENCE_EDITORS = frozenset({"front_desk", "agency_admin"})
T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def paged(found: Awaitable[T]) -> T:
    """A page read; a cursor that is not ours is the caller's mistake (400), not ours."""
    try:
        return await found
    except ValueError as exc:
        raise InvalidCursor("use next_cursor from the previous page, unchanged") from exc
