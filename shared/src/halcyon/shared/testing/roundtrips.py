"""Round-trip budgets: what a core action may cost, written in its service's docs.

A service started with ``HALCYON_COUNT_ROUND_TRIPS=1`` (``count_round_trips``) reports
each request's database commands and Kafka sends as response headers
(shared/http/middleware.py). Each service's ``docs/services/<svc>.md`` has a table

    | Action | Database commands | Kafka sends |
    |---|---|---|
    | register a client | 6 | 2 |

and its round-trip test asserts every action stays within its row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from halcyon.shared.testing.servers import repo_root

BUDGET_HEADING = "## Round-trip budget"


@dataclass(frozen=True)
class Cost:
    database_commands: int
    kafka_sends: int
    by_command: str  # e.g. "find:2,insert:1" (for the failure message)

    def __str__(self) -> str:
        commands = f"{self.database_commands} database commands ({self.by_command})"
        return f"{commands}, {self.kafka_sends} Kafka sends"


def cost_of(response: httpx.Response) -> Cost:
    try:
        return Cost(
            int(response.headers["halcyon-db-commands"]),
            int(response.headers["halcyon-kafka-sends"]),
            response.headers.get("halcyon-db-command-names", ""),
        )
    except KeyError as exc:
        raise AssertionError(
            "no round-trip headers: start the service with HALCYON_COUNT_ROUND_TRIPS=1"
        ) from exc


def budgets(service: str) -> dict[str, tuple[int, int]]:
    """The budget table of docs/services/<service>.md: action -> (commands, sends)."""
    text = (repo_root() / "docs" / "services" / f"{service}.md").read_text()
    if BUDGET_HEADING not in text:
        raise AssertionError(f"docs/services/{service}.md has no '{BUDGET_HEADING}' section")
    section = text.split(BUDGET_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*([^|]+?)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", section, re.MULTILINE)
    return {action.lower(): (int(db), int(kafka)) for action, db, kafka in rows}


def assert_within_budget(service: str, action: str, response: httpx.Response) -> Cost:
    cost = cost_of(response)
    database, kafka = budgets(service)[action]
    budget = f"its budget (docs/services/{service}.md) is {database} database commands"
    assert cost.database_commands <= database, f"{service}: '{action}' cost {cost}; {budget}"
    assert cost.kafka_sends <= kafka, f"{service}: '{action}' cost {cost}; {budget}, {kafka} sends"
    return cost
