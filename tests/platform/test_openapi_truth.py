"""Issue 19, item 6: the OpenAPI the gateway serves tells the truth.

Schemathesis generates a few requests per operation from the gateway's merged document
and sends them through the gateway with the token of a member of staff who holds every
role (with MFA). Every answer must be: not a server error, a status code the operation
declares, with a declared content type, and a body matching the declared schema.
The counts (operations, cases, failures by check) are printed and written to
``schemathesis-report.json`` in the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from halcyon.shared.testing.plugin import eventually
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.platform import Person
from tests.platform.two_agencies import World, person_with_every_role

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CASES_PER_OPERATION = 3
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Operations that would change the platform under the run's feet rather than test a door:
# the test clock moves notifications' "now" for every agency.
SKIPPED = {("PUT", "/api/notifications/admin/test-clock")}


def _run(document: dict[str, Any], base_url: str, person: Person) -> dict[str, Any]:
    schema = schemathesis.openapi.from_dict(document)
    operations = 0
    cases = 0
    statuses: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    invalid: list[str] = []

    def run_cases(operation: Any, label: str) -> None:
        @settings(
            max_examples=CASES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        )
        @given(data=st.data())
        def exercise(data: st.DataObject) -> None:
            nonlocal cases
            case = data.draw(operation.as_strategy())
            cases += 1
            response = case.call(base_url=base_url, headers=person.headers, timeout=60)
            statuses[str(response.status_code)] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=person.headers)
            except BaseException as exc:  # collected, not raised: no shrinking, every finding
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                failures.append(
                    {
                        "operation": label,
                        "status": str(response.status_code),
                        "finding": str(exc)[:600],
                    }
                )

        exercise()

    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation schemathesis cannot read is a finding too
            invalid.append(str(result.err())[:300])
            continue
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        operations += 1
        label = f"{operation.method.upper()} {operation.path}"

        run_cases(operation, label)
    return {
        "operations": operations,
        "cases": cases,
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
        "failures": failures,
        "unreadable_operations": invalid,
    }


@pytest.mark.timeout(1800)
async def test_every_answer_through_the_gateway_is_declared_and_matches_its_schema(
    world: World, tmp_path: Path
) -> None:
    eve = await person_with_every_role(world.gw, world.a)
    base_url = world.platform.gateway.url

    async def complete() -> dict[str, Any] | None:
        # On busy machines a service can miss the gateway's fetch; a complete one is cached.
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            found: dict[str, Any] = (await http.get("/openapi.json")).json()
        return None if "x-halcyon-unavailable-services" in found else found

    document = await eventually(complete, within=120, interval=2, message="whole OpenAPI")
    report = await asyncio.to_thread(_run, document, base_url, eve)
    summary = {k: v for k, v in report.items() if k != "failures"}
    summary["failure_count"] = len(report["failures"])
    print(f"schemathesis through the gateway: {json.dumps(summary)}")
    (tmp_path / "schemathesis-report.json").write_text(json.dumps(report, indent=2))
    print(f"report: {tmp_path / 'schemathesis-report.json'}")
    assert report["operations"] > 100
    assert report["unreadable_operations"] == []
    assert report["server_errors"] == 0, json.dumps(report["failures"][:20], indent=1)
    assert report["failures"] == [], json.dumps(report["failures"][:30], indent=1)
