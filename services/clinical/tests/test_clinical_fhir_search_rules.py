"""FHIR search rules: date prefixes, filters, and links that name the gateway."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from halcyon.clinical.domain.bulk_export import PartWriter, parse_request, progress
from halcyon.clinical.domain.fhir_record import Found, SearchFilter, parse_date
from halcyon.shared.errors import RuleViolation


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "inside", "outside"),
    [
        ("2026-11-27", "2026-11-27T23:59:59", "2026-11-28T00:00:00"),
        ("ge2026-11", "2026-12-31T00:00:00", "2026-10-31T23:59:59"),
        ("lt2026", "2025-12-31T23:59:59", "2026-01-01T00:00:00"),
        ("gt2026-11-27", "2026-11-28T00:00:00", "2026-11-27T12:00:00"),
        ("le2026-11-27T10:00:00Z", "2026-11-27T10:00:00", "2026-11-27T10:00:01"),
        ("ne2026-11-27", "2026-11-26T23:00:00", "2026-11-27T01:00:00"),
    ],
)
def test_date_search_prefixes(raw: str, inside: str, outside: str) -> None:
    bound = parse_date(raw)
    assert bound.admits(at(inside))
    assert not bound.admits(at(outside))


def test_a_malformed_date_is_refused() -> None:
    with pytest.raises(RuleViolation):
        parse_date("soon")


def test_filters_combine_id_date_and_last_updated() -> None:
    found = Found({"resourceType": "Observation", "id": "o1"}, at("2026-11-27T09:00:00"),
                  at("2026-10-01T00:00:00"))  # fmt: skip
    assert SearchFilter(ids=frozenset({"o1"})).admits(found)
    assert not SearchFilter(ids=frozenset({"o2"})).admits(found)
    assert SearchFilter(dates=(parse_date("ge2026-10-01"), parse_date("lt2026-11"))).admits(found)
    assert not SearchFilter(last_updated=(parse_date("gt2026-11-27"),)).admits(found)
    undated = Found({"resourceType": "Patient", "id": "p"}, at("2026-11-27T09:00:00"))
    assert not SearchFilter(dates=(parse_date("ge2000"),)).admits(undated)


def test_bulk_export_parts_progress_and_requests() -> None:
    writer = PartWriter()
    for n in range(1001):
        writer.add({"resourceType": "Observation", "id": str(n)})
    writer.add({"resourceType": "Patient", "id": "p"})
    [(kind, number, lines)] = writer.full()
    assert (kind, number, len(lines)) == ("Observation", 1, 1001)
    assert sorted((k, n, len(x)) for k, n, x in writer.full(final=True)) == [("Patient", 1, 1)]
    assert progress(2, 5) == "40% (2 of 5 clients)"
    assert progress(0, 0) == "100% (0 of 0 clients)"
    assert parse_request("Patient,Observation", None, None).types == ("Patient", "Observation")
    with pytest.raises(RuleViolation):
        parse_request("Claim", None, None)
    with pytest.raises(RuleViolation):
        parse_request(None, None, "text/csv")


def test_fhir_links_name_the_gateway_when_it_forwarded_the_request() -> None:
    from halcyon.clinical.api.fhir_export import public_url
    from starlette.requests import Request

    def request(headers: dict[str, str]) -> Request:
        return Request(
            {
                "type": "http", "method": "GET", "scheme": "http", "server": ("clinical", 80),
                "path": "/fhir/Observation", "query_string": b"patient=p1&_count=2",
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )  # fmt: skip

    inside = request({"host": "clinical"})
    assert public_url(inside) == "http://clinical/fhir/Observation?patient=p1&_count=2"
    outside = request(
        {"host": "clinical", "x-forwarded-host": "ehr.example.org", "x-forwarded-proto": "https"}
    )
    assert public_url(outside, _offset=2) == (
        "https://ehr.example.org/api/clinical/fhir/Observation?patient=p1&_count=2&_offset=2"
    )
