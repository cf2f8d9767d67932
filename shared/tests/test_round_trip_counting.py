"""Round-trip counting (no servers): what is counted, against which action, and the
budget tables every core action's service documents."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from halcyon.shared.mongo import RoundTripListener, counting_round_trips, note_kafka_sends
from halcyon.shared.testing.roundtrips import budgets
from pymongo import monitoring


def started(name: str) -> Any:
    class Event:  # what the listener reads of a CommandStartedEvent
        command_name = name

    return Event()


def test_commands_and_sends_count_against_the_action_running_them() -> None:
    listener = RoundTripListener()
    listener.started(started("find"))  # outside any action: counted nowhere
    note_kafka_sends(3)
    with counting_round_trips() as counts:
        listener.started(started("find"))
        listener.started(started("find"))
        listener.started(started("insert"))
        note_kafka_sends(2)
    listener.started(started("update"))
    assert counts.database_commands == {"find": 2, "insert": 1}
    assert counts.database_total == 3
    assert counts.kafka_sends == 2
    assert isinstance(listener, monitoring.CommandListener)


async def test_concurrent_actions_keep_their_own_counts() -> None:
    listener = RoundTripListener()

    async def action(commands: int) -> int:
        with counting_round_trips() as counts:
            for _ in range(commands):
                listener.started(started("find"))
                await asyncio.sleep(0)
        return counts.database_total

    assert list(await asyncio.gather(action(1), action(5), action(2))) == [1, 5, 2]


@pytest.mark.parametrize(
    ("service", "actions"),
    [
        ("clinical", ["register a client", "open a chart", "sign a note"]),
        ("scheduling", ["book", "check in"]),
        ("inventory", ["dispense"]),
        ("billing", ["post an 835"]),
    ],
)
def test_every_core_action_has_a_budget_in_its_service_doc(
    service: str, actions: list[str]
) -> None:
    table = budgets(service)
    for action in actions:
        database, kafka = table[action]
        assert database > 0
        assert kafka >= 0
