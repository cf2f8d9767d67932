"""One trace across HTTP, the outbox, Kafka and another service's database write;
problem responses for bad input, with nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from halcyon.shared.mongo import connect
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.servers import Servers
from halcyon.shared.testing.spans import read_spans, trace_tree
from halcyon.shared.testing.tokens import TestTokenIssuer

from tests.fixtures import StartService

pytestmark = pytest.mark.integration

NEW_CLIENT = {
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth": "1985-12-09",
    "home_site_id": "site-1",
}


async def test_one_trace_covers_request_event_and_remote_database_write(
    start_service: StartService,
    token_issuer: TestTokenIssuer,
    unique: str,
    tmp_path: Path,
) -> None:
    clinical = start_service("clinical")
    scheduling = start_service("scheduling")
    tenant = f"agency-{unique}"
    headers = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "front_desk")])
    async with httpx.AsyncClient() as http:
        created = await http.post(f"{clinical.url}/clients", json=NEW_CLIENT, headers=headers)
        assert created.status_code == 201, created.text
        client_id = created.json()["id"]

        async def known_to_scheduling() -> bool:
            r = await http.get(f"{scheduling.url}/clients/{client_id}", headers=headers)
            return r.status_code == 200

        await eventually(known_to_scheduling, message="scheduling's read model has the client")

    spans_file = tmp_path / "spans.jsonl"

    def trace_edges() -> tuple[str, list[dict[str, Any]]] | None:
        """The trace, once scheduling's write hangs from clinical's request through the
        consumer and producer spans (spans are written as each one ends, inner first)."""
        spans = read_spans(spans_file)
        server = [
            s
            for s in spans
            if s["service"] == "clinical"
            and s["kind"] == "SERVER"
            and s["name"].startswith("POST /clients")
        ]
        if not server:
            return None
        trace_id = str(server[0]["trace_id"])
        mine = [s for s in spans if s["trace_id"] == trace_id]
        by_id = {s["span_id"]: s for s in mine}
        for write in mine:
            if not (
                write["service"] == "scheduling"
                and write["kind"] == "CLIENT"
                and write["attributes"].get("db.mongodb.collection") == "clients"
            ):
                continue
            span, kinds = write, []
            while span.get("parent_span_id") in by_id:
                span = by_id[span["parent_span_id"]]
                kinds.append((span["service"], span["kind"]))
            if ("scheduling", "CONSUMER") in kinds and kinds[-1] == ("clinical", "SERVER"):
                return trace_id, mine
        return None

    async def traced() -> tuple[str, list[dict[str, Any]]] | None:
        return trace_edges()

    trace_id, spans = await eventually(
        traced, message="scheduling's write joined the request's trace"
    )
    by_id = {s["span_id"]: s for s in spans}

    def ancestors(span: dict[str, Any]) -> list[dict[str, Any]]:
        chain = []
        while span.get("parent_span_id") in by_id:
            span = by_id[span["parent_span_id"]]
            chain.append(span)
        return chain

    write = next(
        s
        for s in spans
        if s["service"] == "scheduling"
        and s["kind"] == "CLIENT"
        and s["attributes"].get("db.mongodb.collection") == "clients"
    )
    chain = ancestors(write)
    kinds = [(s["service"], s["kind"]) for s in chain]
    # scheduling's Mongo write <- it consumes <- clinical publishes <- ... <- clinical's request
    assert ("scheduling", "CONSUMER") in kinds, trace_tree(spans, trace_id)
    assert ("clinical", "PRODUCER") in kinds, trace_tree(spans, trace_id)
    assert chain[-1]["service"] == "clinical", trace_tree(spans, trace_id)
    assert chain[-1]["kind"] == "SERVER", trace_tree(spans, trace_id)
    consumer = next(s for s in chain if s["kind"] == "CONSUMER")
    producer = by_id[consumer["parent_span_id"]]
    assert producer["service"] == "clinical"
    assert producer["kind"] == "PRODUCER"


async def test_bad_input_gets_problem_response_and_writes_nothing(
    start_service: StartService,
    token_issuer: TestTokenIssuer,
    unique: str,
    servers: Servers,
) -> None:
    clinical = start_service("clinical")
    tenant = f"agency-{unique}"
    headers = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "front_desk")])
    bad_bodies = [
        (
            b'{"given_name": 5, "family_name": [], "date_of_birth": "yesterday", '
            b'"home_site_id": "s"}',
            "application/json",
        ),
        (
            b'{"given_name": "A", "family_name": "B", "date_of_birth": "2999-01-01", '
            b'"home_site_id": "site-1"}',
            "application/json",
        ),
        (
            b'{"given_name": "A", "family_name": "B", "date_of_birth": "1990-01-01", '
            b'"home_site_id": "site-1", "is_admin": true}',
            "application/json",
        ),
    ]
    async with httpx.AsyncClient(base_url=clinical.url) as http:
        # A body that is not JSON at all is a malformed request (400), refused by the
        # shared input guard before validation (ADR 0010).
        unreadable = await http.post(
            "/clients",
            content=b"{not json",
            headers={**headers, "content-type": "application/json"},
        )
        assert unreadable.status_code == 400, unreadable.text
        assert unreadable.headers["content-type"] == "application/problem+json"
        assert unreadable.json()["type"].endswith("/malformed-json")
        for body, content_type in bad_bodies:
            response = await http.post(
                "/clients", content=body, headers={**headers, "content-type": content_type}
            )
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["type"].endswith("/validation-error")
            assert problem["status"] == 422
            assert problem["errors"]
            assert "Traceback" not in response.text
    client = connect(servers.mongo_url)
    try:
        database = client[f"t_{unique}_clinical"]
        assert await database["clients"].count_documents({}) == 0
        assert await database["counters"].count_documents({}) == 0
    finally:
        await client.close()


async def test_retried_post_with_idempotency_key_creates_one_client(
    start_service: StartService,
    token_issuer: TestTokenIssuer,
    unique: str,
    servers: Servers,
) -> None:
    clinical = start_service("clinical")
    headers = {
        **token_issuer.headers(
            tenant_id=f"agency-{unique}", user_id="u1", roles=[("site-1", "front_desk")]
        ),
        "Idempotency-Key": "register-grace-1",
    }
    async with httpx.AsyncClient(base_url=clinical.url) as http:
        first = await http.post("/clients", json=NEW_CLIENT, headers=headers)
        second = await http.post("/clients", json=NEW_CLIENT, headers=headers)
        reused = await http.post(
            "/clients", json={**NEW_CLIENT, "given_name": "Other"}, headers=headers
        )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    assert reused.status_code == 422
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    # A retry sent the instant the answer arrives is a replay, never "still running" (the
    # outcome is stored before the last byte goes out; CI once saw a 409 here).
    families = ["Lovelace", "Noether", "Johnson", "Kovalevskaya", "Franklin", "Hamilton"]
    async with httpx.AsyncClient(base_url=clinical.url) as http:
        for n, family in enumerate(families):
            again = {**headers, "Idempotency-Key": f"register-{n}"}
            body = {**NEW_CLIENT, "family_name": family}
            made = await http.post("/clients", json=body, headers=again)
            retried = await http.post("/clients", json=body, headers=again)
            assert (made.status_code, retried.status_code) == (201, 201), retried.text
            assert retried.json()["id"] == made.json()["id"]
    client = connect(servers.mongo_url)
    try:
        clients = client[f"t_{unique}_clinical"]["clients"]
        assert await clients.count_documents({}) == 1 + len(families)
    finally:
        await client.close()


async def test_requests_without_a_valid_token_are_refused(
    start_service: StartService,
    token_issuer: TestTokenIssuer,
    unique: str,
) -> None:
    clinical = start_service("clinical")
    async with httpx.AsyncClient(base_url=clinical.url) as http:
        missing = await http.post("/clients", json=NEW_CLIENT)
        expired = await http.post(
            "/clients",
            json=NEW_CLIENT,
            headers=token_issuer.headers(tenant_id=f"agency-{unique}", ttl_seconds=-60),
        )
        ready = await http.get("/readyz")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
