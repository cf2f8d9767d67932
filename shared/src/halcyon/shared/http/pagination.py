"""Cursor pagination for list endpoints."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from halcyon.shared.mongo import decode_cursor
from pydantic import BaseModel

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = 50
    cursor: str | None = None


def page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="from next_cursor")] = None,
) -> PageParams:
    if cursor:
        # Checked here, once for every list: a cursor we did not hand out is a 400
        # problem before any route code runs (it used to reach the query and 500).
        decode_cursor(cursor)
    return PageParams(limit=limit, cursor=cursor or None)
