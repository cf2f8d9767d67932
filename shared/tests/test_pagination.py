"""Cursor pagination: a cursor that is not one of ours is the caller's error (a 400 problem,
``invalid-cursor``), not a 500."""

from __future__ import annotations

import pytest
from halcyon.shared.errors import InvalidCursor
from halcyon.shared.http.pagination import page_params
from halcyon.shared.mongo import encode_cursor


@pytest.mark.parametrize("cursor", ["!!", "%%%", "bm90IGpzb24=", "a"])
def test_a_cursor_that_does_not_decode_is_refused(cursor: str) -> None:
    """GET /work-queue?cursor=!! was a 500 (the decoding error reached the repository)."""
    with pytest.raises(InvalidCursor) as caught:
        page_params(limit=50, cursor=cursor)
    assert caught.value.status == 400


def test_a_cursor_from_next_cursor_is_kept() -> None:
    cursor = encode_cursor("wq:pay:abc")
    assert page_params(limit=10, cursor=cursor).cursor == cursor
