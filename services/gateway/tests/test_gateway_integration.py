"""The gateway in front of the real clinical service, as separate processes on the real
Kafka and FerretDB, with the token keys served as a JWKS over HTTP (as identity will)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from halcyon.shared.testing.plugin import eventually
from halcyon.shared.testing.processes import ServiceProcess, free_port
from halcyon.shared.testing.servers import Servers, repo_root
from halcyon.shared.testing.spans import read_spans
from halcyon.shared.testing.tokens import TestTokenIssuer
from opentelemetry.instrumentation.utils import suppress_http_instrumentation

from tests.fixtures import StartService

pytestmark = pytest.mark.integration

MAX_BODY = 64 * 1024
USER_BURST = 5
NEW_CLIENT = {
    "given_name": "Maria",
    "family_name": "Sabina",
    "date_of_birth": "1979-07-22",
    "home_site_id": "site-1",
}


# uvicorn believes X-Forwarded-For from 127.0.0.1 by default; a real gateway faces the
# internet, so in these tests (all clients on 127.0.0.1) it trusts no proxy at all.
FACES_THE_INTERNET = {"FORWARDED_ALLOW_IPS": "192.0.2.1"}


@dataclass
class Stack:
    gateway: ServiceProcess
    clinical: ServiceProcess
    jwks_dir: Path
    jwks_url: str
    topic_prefix: str
    span_file: Path
    kafka_bootstrap: str

    @property
    def url(self) -> str:
        return self.gateway.url


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer")


def write_jwks(directory: Path, *issuers: TestTokenIssuer) -> None:
    keys = [key for issuer in issuers for key in issuer.jwks()["keys"]]
    target = directory / ".well-known" / "jwks.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": keys}))
    tmp.replace(target)  # atomic: the server never serves half a key set


@pytest.fixture(scope="module")
def stack(
    servers: Servers, token_issuer: TestTokenIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One clinical and one gateway for the whole module: starting them per test would
    load the shared 2-core machine for nothing (each test uses its own agency and user)."""
    run = tmp_path_factory.mktemp("gateway-stack")
    unique = uuid.uuid4().hex[:10]
    prefix = f"t{unique}."
    jwks_dir = run / "jwks"
    write_jwks(jwks_dir, token_issuer)
    jwks_port = free_port()
    jwks_log = open(run / "jwks.log", "ab")  # noqa: SIM115 - the child owns it
    jwks_server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(jwks_port), "--bind", "127.0.0.1"],
        cwd=jwks_dir,
        stdout=jwks_log,
        stderr=subprocess.STDOUT,
    )
    jwks_url = f"http://127.0.0.1:{jwks_port}/.well-known/jwks.json"
    span_file = run / "spans.jsonl"
    common = {
        "HALCYON_ENVIRONMENT": "test",
        "HALCYON_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "HALCYON_MONGO_URL": servers.mongo_url,
        "HALCYON_TOPIC_PREFIX": prefix,
        "HALCYON_SPAN_FILE": str(span_file),
        "HALCYON_LOG_LEVEL": "INFO",
        # The caller's PYTHONPATH first: lets a run pin the services' sources.
        "PYTHONPATH": os.pathsep.join(
            p for p in (os.environ.get("PYTHONPATH"), str(repo_root())) if p
        ),
        # Keys come from the JWKS only, as in production (no fixed PEM key).
        "HALCYON_JWKS_URL": jwks_url,
        "HALCYON_JWT_PUBLIC_KEY": "",
    }
    processes: list[ServiceProcess] = []
    try:
        _wait_http(jwks_url)
        clinical = ServiceProcess(
            "clinical", {**common, "HALCYON_CLINICAL_DATABASE_NAME": f"t_{unique}_clinical"}, run
        ).start()
        processes.append(clinical)
        clinical.wait_ready()
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        gateway = ServiceProcess(
            "gateway",
            {
                **common,
                "HALCYON_GATEWAY_UPSTREAMS": json.dumps(
                    {
                        "clinical": clinical.url,
                        "billing": dead,
                        # The JWKS server stands in for identity's public key endpoint.
                        "identity": f"http://127.0.0.1:{jwks_port}",
                    }
                ),
                "HALCYON_GATEWAY_REQUIRED_UPSTREAMS": '["clinical"]',
                "HALCYON_GATEWAY_USER_RATE_LIMIT": json.dumps(
                    {"per_minute": 1, "burst": USER_BURST}
                ),
                "HALCYON_GATEWAY_ADDRESS_RATE_LIMIT": '{"per_minute": 100000, "burst": 10000}',
                "HALCYON_GATEWAY_MAX_BODY_BYTES": str(MAX_BODY),
                **FACES_THE_INTERNET,
            },
            run,
        ).start()
        processes.append(gateway)
        gateway.wait_ready()
        yield Stack(
            gateway, clinical, jwks_dir, jwks_url, prefix, span_file, servers.kafka_bootstrap
        )
    finally:
        for process in processes:
            process.kill()
        jwks_server.kill()
        jwks_server.wait(timeout=10)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


def agency() -> str:
    return f"agency-{uuid.uuid4().hex[:8]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(tenant: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "user-forger",
        "tid": tenant,
        "roles": [{"site": "*", "role": "agency_admin"}],
        "aud": "halcyon",
        "iss": "halcyon-identity",
        "iat": now,
        "exp": now + 600,
        "typ": "access",
    }


def unsigned_token(tenant: str) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": "test-key-1"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(tenant)).encode())}."


def hmac_with_public_key(tenant: str, public_pem: str) -> str:
    """The classic confusion attack: HS256 'signed' with the RSA public key as secret."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "test-key-1"}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(tenant)).encode())}"
    )
    signature = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def tampered(token: str) -> str:
    """Same signature, payload edited to claim another agency."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["tid"] = "agency-victim"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_a_client_is_registered_and_read_through_the_gateway(
    stack: Stack, token_issuer: TestTokenIssuer, http: httpx.AsyncClient
) -> None:
    headers = token_issuer.headers(tenant_id=agency(), roles=[("site-1", "front_desk")])
    once = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    created = await http.post(f"{stack.url}/api/clinical/clients", json=NEW_CLIENT, headers=once)
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]
    # A retried create (same Idempotency-Key) reaches clinical unchanged: no second client.
    retried = await http.post(f"{stack.url}/api/clinical/clients", json=NEW_CLIENT, headers=once)
    assert retried.json()["id"] == client_id
    listed = await http.get(f"{stack.url}/api/clinical/clients", headers=headers)
    assert [c["id"] for c in listed.json()["items"]] == [client_id]
    read = await http.get(f"{stack.url}/api/clinical/clients/{client_id}", headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["family_name"] == "Sabina"
    # Health information must never be cached, and the browser must not sniff or frame it.
    assert read.headers["cache-control"] == "no-store"
    assert read.headers["x-content-type-options"] == "nosniff"
    assert read.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in read.headers["content-security-policy"]
    assert "access-control-allow-origin" not in read.headers  # CORS off by default


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "not-bearer",
        "expired",
        "tampered",
        "alg-none",
        "hmac-public-key",
        "wrong-key",
        "wrong-audience",
        "garbage",
    ],
)
async def test_bad_tokens_are_refused_at_the_gateway(
    stack: Stack, token_issuer: TestTokenIssuer, http: httpx.AsyncClient, kind: str
) -> None:
    tenant = agency()
    good = token_issuer.mint(tenant_id=tenant)
    impostor = TestTokenIssuer(kid=token_issuer.kid)  # same key id, different key
    headers = {
        "missing": {},
        "not-bearer": {"Authorization": f"Basic {good}"},
        "expired": bearer(token_issuer.mint(tenant_id=tenant, ttl_seconds=-60)),
        "tampered": bearer(tampered(good)),
        "alg-none": bearer(unsigned_token(tenant)),
        "hmac-public-key": bearer(hmac_with_public_key(tenant, token_issuer.public_pem)),
        "wrong-key": bearer(impostor.mint(tenant_id=tenant)),
        "wrong-audience": bearer(
            TestTokenIssuer(audience="someone-else", _key=token_issuer._key).mint(tenant_id=tenant)
        ),
        "garbage": bearer("not.a.token"),
    }[kind]
    request_id = f"bad-token-{kind}-{uuid.uuid4().hex[:6]}"
    response = await http.get(
        f"{stack.url}/api/clinical/clients", headers={**headers, "X-Request-ID": request_id}
    )
    body = assert_problem(response, 401)
    assert body["type"].endswith("/unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    # Refused at the door: clinical never saw the request.
    server_spans = [
        s
        for s in read_spans(stack.span_file)
        if s["service"] == "clinical" and s["kind"] == "SERVER"
    ]
    trace_id = response.headers["x-trace-id"]
    assert all(s["trace_id"] != trace_id for s in server_spans)


async def test_every_service_still_checks_when_the_gateway_is_bypassed(
    stack: Stack, token_issuer: TestTokenIssuer, http: httpx.AsyncClient
) -> None:
    agency_a, agency_b = agency(), agency()
    headers_a = token_issuer.headers(tenant_id=agency_a, roles=[("site-1", "front_desk")])
    created = await http.post(
        f"{stack.url}/api/clinical/clients", json=NEW_CLIENT, headers=headers_a
    )
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]

    # Straight to clinical, no token: refused by clinical itself.
    assert_problem(await http.get(f"{stack.clinical.url}/clients/{client_id}"), 401)
    # Straight to clinical with a forged unsigned token: refused too.
    forged = bearer(unsigned_token(agency_a))
    assert_problem(await http.get(f"{stack.clinical.url}/clients/{client_id}", headers=forged), 401)

    # A valid token of agency B reads nothing of agency A, with or without the gateway.
    admin_b = token_issuer.headers(tenant_id=agency_b, roles=[("*", "agency_admin")])
    for url in (f"{stack.url}/api/clinical", stack.clinical.url):
        response = await http.get(f"{url}/clients/{client_id}", headers=admin_b)
        assert response.status_code in (403, 404), response.text
        assert "Sabina" not in response.text
        listed = await http.get(f"{url}/clients", headers=admin_b)
        assert listed.status_code == 200
        assert listed.json()["items"] == []

    # Role checks stay in the service: a biller may not register clients (403 problem
    # from clinical, passed through the gateway unchanged).
    biller = token_issuer.headers(tenant_id=agency_a, roles=[("site-1", "biller")])
    refused = await http.post(f"{stack.url}/api/clinical/clients", json=NEW_CLIENT, headers=biller)
    assert assert_problem(refused, 403)["type"].endswith("/forbidden")


async def test_too_many_requests_from_one_user_get_429_with_retry_after(
    stack: Stack, token_issuer: TestTokenIssuer, http: httpx.AsyncClient
) -> None:
    tenant = agency()
    headers = token_issuer.headers(tenant_id=tenant, user_id="user-hasty")
    statuses = []
    for _ in range(USER_BURST):
        response = await http.get(f"{stack.url}/api/clinical/clients", headers=headers)
        statuses.append(response.status_code)
    assert statuses == [200] * USER_BURST
    limited = await http.get(f"{stack.url}/api/clinical/clients", headers=headers)
    body = assert_problem(limited, 429)
    assert body["type"].endswith("/rate-limited")
    assert int(limited.headers["retry-after"]) >= 1
    # Another user of the same agency is not held back by the first one's haste.
    other = token_issuer.headers(tenant_id=tenant, user_id="user-patient")
    assert (await http.get(f"{stack.url}/api/clinical/clients", headers=other)).status_code == 200


async def test_too_many_requests_from_one_address_get_429(
    start_service: StartService, token_issuer: TestTokenIssuer, http: httpx.AsyncClient
) -> None:
    # Its own gateway (no upstreams, cheap): the limit per address counts everything,
    # tokens or not, so floods of guessed tokens stop early.
    gateway = start_service(
        "gateway",
        HALCYON_GATEWAY_ADDRESS_RATE_LIMIT='{"per_minute": 1, "burst": 3}',
        HALCYON_GATEWAY_UPSTREAMS="{}",
        **FACES_THE_INTERNET,
    )
    statuses = [
        (await http.get(f"{gateway.url}/api/clinical/clients")).status_code for _ in range(3)
    ]
    assert 429 not in statuses
    limited = await http.get(f"{gateway.url}/api/clinical/clients")
    assert_problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    # A forged X-Forwarded-For does not buy a fresh bucket.
    spoofed = await http.get(
        f"{gateway.url}/api/clinical/clients", headers={"X-Forwarded-For": "198.51.100.7"}
    )
    assert spoofed.status_code == 429
    # Probes are never limited.
    assert (await http.get(f"{gateway.url}/healthz")).status_code == 200


async def test_oversized_bodies_get_413_and_nothing_is_created(
    stack: Stack, token_issuer: TestTokenIssuer, http: httpx.AsyncClient
) -> None:
    headers = token_issuer.headers(tenant_id=agency(), roles=[("site-1", "front_desk")])
    big = json.dumps({**NEW_CLIENT, "given_name": "x" * (MAX_BODY + 1)}).encode()
    declared = await http.post(
        f"{stack.url}/api/clinical/clients",
        content=big,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert assert_problem(declared, 413)["type"].endswith("/payload-too-large")

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the gateway must count the bytes as they stream.
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = await http.post(
        f"{stack.url}/api/clinical/clients",
        content=chunks(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert_problem(streamed, 413)
    listed = await http.get(f"{stack.url}/api/clinical/clients", headers=headers)
    assert listed.json()["items"] == []


async def test_request_id_and_trace_flow_through_to_the_service(
    stack: Stack, token_issuer: TestTokenIssuer, http: httpx.AsyncClient
) -> None:
    tenant = agency()
    headers = token_issuer.headers(tenant_id=tenant, roles=[("site-1", "front_desk")])
    created = await http.post(f"{stack.url}/api/clinical/clients", json=NEW_CLIENT, headers=headers)
    client_id = created.json()["id"]
    request_id = f"req-{uuid.uuid4().hex}"
    # The caller's own trace (e.g. the web console's) continues through the gateway.
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    # If an earlier in-process test instrumented httpx globally, its injection would
    # replace our traceparent: this request must carry exactly the caller's.
    with suppress_http_instrumentation():
        read = await http.get(
            f"{stack.url}/api/clinical/clients/{client_id}",
            headers={
                **headers,
                "X-Request-ID": request_id,
                "X-Forwarded-For": "6.6.6.6",
                "traceparent": traceparent,
            },
        )
    assert read.status_code == 200, read.text
    assert read.headers.get_list("x-request-id") == [request_id]

    # Clinical received the same request id: its problem responses quote it.
    missing = await http.get(
        f"{stack.url}/api/clinical/clients/no-such-client",
        headers={**headers, "X-Request-ID": f"{request_id}-2"},
    )
    assert assert_problem(missing, 404)["request_id"] == f"{request_id}-2"

    # The access audit of the read carries the request id and the real source address,
    # not the one the client forged.
    audit = await _audit_event(stack, request_id)
    assert audit["data"]["client_id"] == client_id
    assert audit["data"]["source_address"] == "127.0.0.1"

    # One trace, the caller's: the gateway joined it and clinical joined the gateway's.
    assert read.headers["x-trace-id"] == trace_id

    async def clinical_joined() -> list[dict[str, Any]]:
        return [
            s
            for s in read_spans(stack.span_file)
            if s["trace_id"] == trace_id and s["service"] == "clinical" and s["kind"] == "SERVER"
        ]

    clinical_spans = await eventually(
        clinical_joined, message="clinical's span joined the gateway's trace"
    )
    gateway_calls = {
        s["span_id"]
        for s in read_spans(stack.span_file)
        if s["trace_id"] == trace_id and s["service"] == "gateway" and s["kind"] == "CLIENT"
    }
    # Clinical's request span is the child of the gateway's outgoing call.
    assert any(s["parent_span_id"] in gateway_calls for s in clinical_spans)


async def _audit_event(stack: Stack, request_id: str) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        f"{stack.topic_prefix}audit.access.v1",
        bootstrap_servers=stack.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:

        async def arrived() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    envelope = json.loads(record.value)
                    if envelope.get("data", {}).get("request_id") == request_id:
                        found.append(envelope)
            return bool(found)

        await eventually(arrived, interval=0, message="the read's access audit on Kafka")
    finally:
        await consumer.stop()
    return found[0]


async def test_public_paths_need_no_token_and_keys_rotate_without_a_restart(
    stack: Stack, token_issuer: TestTokenIssuer, http: httpx.AsyncClient
) -> None:
    # identity's key set is public (the JWKS server stands in for identity here).
    keys = await http.get(f"{stack.url}/api/identity/.well-known/jwks.json")
    assert keys.status_code == 200
    assert keys.json()["keys"][0]["kid"] == token_issuer.kid

    # Identity rotates: the new key is published beside the old one.
    rotated = TestTokenIssuer(kid=f"rotated-{uuid.uuid4().hex[:6]}")
    write_jwks(stack.jwks_dir, token_issuer, rotated)
    tenant = agency()
    for issuer in (rotated, token_issuer):  # new tokens verify; old ones until they expire
        response = await http.get(
            f"{stack.url}/api/clinical/clients", headers=issuer.headers(tenant_id=tenant)
        )
        assert response.status_code == 200, response.text


async def test_an_unreachable_service_gives_a_503_problem_not_a_stack_trace(
    stack: Stack, token_issuer: TestTokenIssuer, http: httpx.AsyncClient
) -> None:
    headers = token_issuer.headers(tenant_id=agency(), roles=[("*", "biller")])
    response = await http.get(f"{stack.url}/api/billing/claims", headers=headers)
    body = assert_problem(response, 503)
    assert body["type"].endswith("/upstream-unavailable")
    assert body["service"] == "billing"
    unknown = await http.get(f"{stack.url}/api/nonsense/x", headers=headers)
    assert_problem(unknown, 404)


async def test_readiness_names_the_service_that_is_down(
    stack: Stack, start_service: StartService, http: httpx.AsyncClient
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    gateway = start_service(
        "gateway",
        wait=False,
        HALCYON_GATEWAY_UPSTREAMS=json.dumps({"clinical": stack.clinical.url, "billing": dead}),
    )

    async def readiness() -> httpx.Response | None:
        try:
            return await http.get(f"{gateway.url}/readyz")
        except httpx.HTTPError:
            return None

    response = await eventually(readiness, message="gateway answers /readyz")
    body = assert_problem(response, 503)
    assert body["checks"]["clinical"] == "ok"
    assert body["checks"]["billing"].startswith("unreachable")
    # The module's gateway requires only clinical, which is up.
    ready = await http.get(f"{stack.url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"clinical": "ok", "token-keys": "ok"}


async def test_one_openapi_document_and_swagger_ui_for_the_platform(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    document = (await http.get(f"{stack.url}/openapi.json")).json()
    paths = document["paths"]
    assert "/api/clinical/clients" in paths
    assert "/api/clinical/clients/{client_id}" in paths
    assert "post" in paths["/api/clinical/clients"]
    assert "clinical.Client" in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # Billing is down here, and the document says so instead of failing.
    assert "billing" in document["x-halcyon-unavailable-services"]
    docs = await http.get(f"{stack.url}/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert "/openapi.json" in docs.text
