"""The published event catalogue (AsyncAPI) matches the code and the wire."""

from __future__ import annotations

import inspect
import json

import httpx
import jsonschema
import pytest
from halcyon.shared.catalogue import (
    build_asyncapi,
    catalogue_html,
    catalogue_markdown,
    description,
    example_envelope,
    message_examples,
    payload_schema,
)
from halcyon.shared.contracts import EventContract, all_contracts
from halcyon.shared.envelope import EventEnvelope
from halcyon.shared.testing.servers import Servers, repo_root
from halcyon.shared.testing.tokens import TestTokenIssuer
from pydantic import BaseModel

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


def test_every_contract_says_what_it_is_in_its_own_words() -> None:
    for event_type, contract in all_contracts().items():
        own = contract.__dict__.get("__doc__")
        assert own, f"{contract.__name__} ({event_type}) has no docstring"
        assert own.strip(), f"{contract.__name__} ({event_type}) has a blank docstring"
        assert description(contract) == inspect.cleandoc(own)
    # pydantic's BaseModel docstring once leaked into every undocumented contract's entry.
    leaked = inspect.cleandoc(BaseModel.__doc__ or "").splitlines()[0]
    assert leaked not in catalogue_markdown()
    assert leaked not in json.dumps(build_asyncapi())


def test_every_example_is_a_valid_event_and_its_envelope_matches_the_documented_schema() -> None:
    document = build_asyncapi()
    checker = jsonschema.FormatChecker()
    for event_type, contract in all_contracts().items():
        assert contract.example, f"{event_type} has no example"
        contract.model_validate(contract.example)
        [example] = message_examples(document, event_type)
        assert example["name"]
        assert example["summary"]
        envelope = example["payload"]
        jsonschema.validate(envelope, payload_schema(document, event_type), format_checker=checker)
        parsed = EventEnvelope.model_validate(envelope)
        assert parsed.type == event_type
        assert parsed.subject == parsed.contract().subject()
        assert parsed.contract() == contract.model_validate(contract.example)


def test_a_broken_example_would_not_validate_against_the_documented_schema() -> None:
    # The check above can fail: a wrongly typed field in an example is refused.
    document = build_asyncapi()
    event_type = "halcyon.inventory.dose.dispensed.v1"
    envelope = example_envelope(all_contracts()[event_type])
    envelope["data"]["quantity_mg"] = "a hundred and twenty"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(envelope, payload_schema(document, event_type))


def test_the_catalogue_is_the_same_on_every_build() -> None:
    # The committed file is compared with the code: nothing random or clock-based in it.
    # Byte for byte, key order included, so regenerating only changes what changed.
    assert (DOCS / "asyncapi.json").read_text() == json.dumps(build_asyncapi(), indent=2) + "\n"
    assert catalogue_html() == catalogue_html()


def _deprecated() -> list[type[EventContract]]:
    return [c for c in all_contracts().values() if c.deprecated_after]


@pytest.mark.skipif(not _deprecated(), reason="no contract is being deprecated")
def test_a_deprecated_contract_is_marked_with_its_date_and_replacement() -> None:
    document = build_asyncapi()
    markdown, page = catalogue_markdown(), catalogue_html()
    for contract in _deprecated():
        key = f"{contract.topic}:{contract.event_type}"
        channel = document["channels"][key]
        assert channel["x-deprecated-after"] == contract.deprecated_after
        message_ref = channel["messages"]["Message"]["$ref"].split("/")[-1]
        message = document["components"]["messages"][message_ref]
        assert message["x-deprecated-after"] == contract.deprecated_after
        assert message["description"].startswith("Deprecated, published until")
        assert payload_schema(document, contract.event_type)["deprecated"] is True
        family, _, version = contract.event_type.rpartition(".v")
        newer = f"{family}.v{int(version) + 1}"
        line = f"Deprecated, published until {contract.deprecated_after}, use `{newer}`."
        assert line in markdown
        assert line.replace("`", "") in page
    live = [c for c in all_contracts().values() if not c.deprecated_after]
    assert all(
        "x-deprecated-after" not in document["channels"][f"{c.topic}:{c.event_type}"] for c in live
    )


def test_the_catalogue_page_lists_partner_topics_first_with_fields_and_examples() -> None:
    page = catalogue_html()
    partner = [c for c in all_contracts().values() if c.topic.startswith("partner.")]
    internal = [c for c in all_contracts().values() if not c.topic.startswith("partner.")]
    assert partner
    assert internal
    for_partners, internal_topics = page.index('id="partners"'), page.index('id="internal"')
    assert for_partners < internal_topics
    assert all(for_partners < page.index(f'id="{c.event_type}"') < internal_topics for c in partner)
    assert all(page.index(f'id="{c.event_type}"') > internal_topics for c in internal)
    dose = page[page.index('id="halcyon.inventory.dose.dispensed.v1"') :]
    dose = dose[: dose.index("</section>")]
    assert '<td class="name">quantity_mg</td><td class="type">number</td><td>yes</td>' in dose
    assert "administered_at" in dose
    assert "string (date-time)" in dose
    assert "&quot;quantity_mg&quot;: 120.0" in dose  # the example envelope, escaped
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page


def test_the_markdown_shows_each_example_envelope_as_json() -> None:
    markdown = catalogue_markdown()
    for contract in all_contracts().values():
        block = "```json\n" + json.dumps(example_envelope(contract), indent=2) + "\n```"
        assert block in markdown, contract.event_type


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
