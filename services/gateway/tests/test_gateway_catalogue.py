"""The event catalogue the gateway serves to partners, without a token: the HTML page,
the Markdown and the AsyncAPI document. In process (no upstream is called)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest
from halcyon.gateway.app import create_gateway_app
from halcyon.gateway.settings import GatewaySettings
from halcyon.shared.catalogue import build_asyncapi, catalogue_markdown


@pytest.fixture
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(
        upstreams={"clinical": "http://127.0.0.1:9"}, required_upstreams=[], jwks_url=""
    )
    app = create_gateway_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


class _Page(HTMLParser):
    """Collects what a reader sees: headings and table cells, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.external: list[str] = []
        self.anchors: list[str] = []  # ids of headings and event sections, in page order

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.anchors += [v for n, v in attrs if n == "id" and v]
        for name, value in attrs:
            if name in {"src", "href"} and value and re.match(r"^[a-z]+:", value):
                self.external.append(value)

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


async def test_the_catalogue_page_is_html_partner_topics_first_and_self_contained(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.get("/events")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = _Page()
    page.feed(response.text)
    assert "script" not in page.tags
    assert "link" not in page.tags
    assert page.external == []
    sections = page.anchors
    partners, internal = sections.index("partners"), sections.index("internal")
    assert partners < sections.index("halcyon.partner.registry_dose.reported.v2") < internal
    assert internal < sections.index("halcyon.clinical.client.registered.v1")
    # v1's own section opens with its deprecation, right under its heading.
    after_nav = page.text.index("For partners", page.text.index("For partners") + 1)
    v1 = page.text.index("halcyon.partner.registry_dose.reported.v1", after_nav)
    assert page.text[v1 + 1] == (
        "Deprecated, published until 2027-06-30, use halcyon.partner.registry_dose.reported.v2."
    )
    assert page.text[page.text.index("field", v1) : page.text.index("field", v1) + 4] == [
        "field",
        "type",
        "required",
        "description",
    ]
    # The example envelope is shown as text a partner can copy, not as markup.
    assert '"tenantid": "agency-cedar-ridge"' in response.text.replace("&quot;", '"')
    # Only the page's own inline style may apply; nothing can run.
    csp = response.headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in csp
    assert "script-src" not in csp
    assert csp.startswith("default-src 'none'")


async def test_the_markdown_and_the_asyncapi_document_are_served_as_generated(
    gateway: httpx.AsyncClient,
) -> None:
    markdown = await gateway.get("/events.md")
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text == catalogue_markdown()
    document = await gateway.get("/asyncapi.json")
    assert document.status_code == 200
    assert document.json() == json.loads(json.dumps(build_asyncapi()))
    [example] = document.json()["components"]["messages"][
        "partner.registry.dose.v2:halcyon.partner.registry_dose.reported.v2:Message"
    ]["examples"]
    assert example["payload"]["type"] == "halcyon.partner.registry_dose.reported.v2"
    # API answers keep their strict policy: the page's exception is for /events only.
    assert document.headers["content-security-policy"].startswith("default-src 'none'")
    assert "style-src" not in document.headers["content-security-policy"]
