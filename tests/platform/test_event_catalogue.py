"""The published event catalogue (AsyncAPI) matches the code and the wire."""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest
from halcyon.shared.catalogue import build_asyncapi, catalogue_markdown, payload_schema
from halcyon.shared.contracts import all_contracts
from halcyon.shared.testing.servers import Servers, repo_root
from halcyon.shared.testing.tokens import TestTokenIssuer

from tests.fixtures import StartService
from tests.platform.test_delivery_guarantees import read_topic

DOCS = repo_root() / "docs"


def test_the_committed_catalogue_matches_the_contracts() -> None:
    assert json.loads((DOCS / "asyncapi.json").read_text()) == build_asyncapi(), (
        "docs/asyncapi.json is stale: python -m halcyon.shared.catalogue docs"
    )
    assert (DOCS / "events.md").read_text() == catalogue_markdown()


def test_every_contract_is_documented_with_its_topic_and_schema() -> None:
    document = build_asyncapi()
    addresses = {c["address"] for c in document["channels"].values()}
    for event_type, contract in all_contracts().items():
        assert contract.topic in addresses
        schema = payload_schema(document, event_type)
        assert set(contract.model_fields) <= set(
            document["components"]["schemas"][contract.__name__]["properties"]
        )
        assert {"id", "type", "subject", "tenantid", "data"} <= set(schema["properties"])


@pytest.mark.integration
async def test_an_event_on_the_wire_validates_against_its_documented_schema(
    start_service: StartService,
    servers: Servers,
    token_issuer: TestTokenIssuer,
    topic_prefix: str,
    unique: str,
) -> None:
    clinical = start_service("clinical")
    async with httpx.AsyncClient(base_url=clinical.url) as http:
        response = await http.post(
            "/clients",
            json={
                "given_name": "Mary",
                "family_name": "Seacole",
                "date_of_birth": "1955-11-23",
                "home_site_id": "site-1",
            },
            headers=token_issuer.headers(tenant_id=f"a-{unique}", roles=[("site-1", "front_desk")]),
        )
    assert response.status_code == 201
    [record] = await read_topic(servers, f"{topic_prefix}clinical.client.v1", want=1)
    event = json.loads(record.value)  # type: ignore[attr-defined]
    schema = payload_schema(build_asyncapi(), event["type"])
    jsonschema.validate(event, schema)
    broken = {**event, "data": {**event["data"], "date_of_birth": "not a date"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, format_checker=jsonschema.FormatChecker())
