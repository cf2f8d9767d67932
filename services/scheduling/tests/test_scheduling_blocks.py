"""Claim blocks (ADR 0400): the fewest aligned blocks cover exactly an interval's
buckets, and two intervals overlap exactly when their blocks collide (the same block,
or one inside another), which is what makes coarse claims safe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from halcyon.scheduling.domain.calendar import (
    SLOT_SPANS,
    WINDOW_SPANS,
    Block,
    Interval,
    blocks,
    buckets,
    related_blocks,
)
from hypothesis import given, settings
from hypothesis import strategies as st

MONDAY = datetime(2027, 3, 1, tzinfo=UTC)
minutes = st.integers(min_value=0, max_value=3 * 24 * 60)
lengths = st.integers(min_value=1, max_value=12 * 60)


def interval(start: int, length: int) -> Interval:
    return Interval(MONDAY + timedelta(minutes=start), MONDAY + timedelta(minutes=start + length))


def collide(a: list[Block], b: list[Block], spans: tuple[timedelta, ...]) -> bool:
    theirs = set(b)
    return any(x in theirs or theirs & set(related_blocks(x, spans)) for x in a)


@given(minutes, lengths)
def test_blocks_cover_exactly_the_buckets_of_the_interval(start: int, length: int) -> None:
    wanted = interval(start, length)
    held = blocks(wanted)
    covered = [bucket for block in held for bucket in block.buckets()]
    assert covered == buckets(wanted)  # in order, no gap, no bucket twice
    assert len(held) <= len(buckets(wanted))


@settings(max_examples=400, deadline=None)
@given(minutes, lengths, minutes, lengths)
def test_two_intervals_overlap_exactly_when_their_blocks_collide(
    a_start: int, a_length: int, b_start: int, b_length: int
) -> None:
    a, b = interval(a_start, a_length), interval(b_start, b_length)
    share_a_bucket = bool(set(buckets(a)) & set(buckets(b)))
    blocks_a, blocks_b = blocks(a), blocks(b)
    assert collide(blocks_a, blocks_b, SLOT_SPANS) == share_a_bucket
    assert collide(blocks_b, blocks_a, SLOT_SPANS) == share_a_bucket


@given(st.integers(min_value=0, max_value=23))
def test_an_eight_hour_session_on_the_hour_is_at_most_five_blocks(hour: int) -> None:
    start = MONDAY + timedelta(hours=hour)
    held = blocks(Interval(start, start + timedelta(hours=8)))
    assert len(held) <= 5, held  # 96 buckets; 4 resources hold at most 20 claims


@settings(deadline=None)
@given(
    st.integers(min_value=0, max_value=400 * 288),
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=-2, max_value=2),
)
def test_dosing_windows_collide_exactly_when_sessions_are_fewer_than_n_days_apart(
    start: int, days: int, off_by: int
) -> None:
    """The window is N days from the session's start, like the gating rule's instants
    (a DST change between two sessions does not let both through)."""
    first = MONDAY + timedelta(minutes=5 * start)
    window = timedelta(days=days)
    second = first + window + timedelta(minutes=5 * off_by)
    held_a = blocks(Interval(first, first + window), WINDOW_SPANS)
    held_b = blocks(Interval(second, second + window), WINDOW_SPANS)
    assert collide(held_a, held_b, WINDOW_SPANS) == (second - first < window)
    assert collide(held_b, held_a, WINDOW_SPANS) == (second - first < window)
    assert len(blocks(Interval(first, first + timedelta(days=28)), WINDOW_SPANS)) <= 23
