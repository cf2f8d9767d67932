"""Gateway rules without servers: token buckets, public paths, path and header policy,
client addresses, OpenAPI merging."""

from __future__ import annotations

from typing import Any

import pytest
from halcyon.gateway.domain.openapi import merge_openapi
from halcyon.gateway.domain.ratelimit import TokenBuckets
from halcyon.gateway.domain.routing import (
    BadPath,
    client_address,
    downstream_response_headers,
    is_operator_path,
    is_public,
    split_api_path,
    upstream_request_headers,
)
from halcyon.gateway.settings import DEFAULT_OPERATOR_PATHS, DEFAULT_PUBLIC_PATHS, GatewaySettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_refused_with_the_wait_until_the_next_token() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=6, burst=3, clock=clock)  # one token per 10 s
    assert [buckets.take("ana").allowed for _ in range(3)] == [True, True, True]
    refused = buckets.take("ana")
    assert not refused.allowed
    assert refused.retry_after == 10
    clock.now += 4
    assert buckets.take("ana").retry_after == 6
    clock.now += 6
    assert buckets.take("ana").allowed


def test_each_key_has_its_own_bucket() -> None:
    buckets = TokenBuckets(per_minute=1, burst=1, clock=Clock())
    assert buckets.take("agency-a/ana").allowed
    assert not buckets.take("agency-a/ana").allowed
    assert buckets.take("agency-a/bo").allowed


def test_a_bucket_never_refills_beyond_its_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=2, clock=clock)
    clock.now += 3600
    assert [buckets.take("k").allowed for _ in range(3)] == [True, True, False]


def test_memory_stays_bounded_when_many_addresses_pass_by() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=1, clock=clock, max_keys=100)
    for i in range(1000):
        clock.now += 0.001
        buckets.take(f"10.0.{i // 256}.{i % 256}")
    assert len(buckets) <= 100


def test_idle_buckets_are_forgotten_first_and_busy_ones_kept() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=1, clock=clock, max_keys=3)
    buckets.take("busy")
    clock.now += 10
    buckets.take("idle-1")
    buckets.take("idle-2")
    clock.now += 0.5
    buckets.take("busy")  # its token was just spent: not refilled yet
    clock.now += 0.5
    buckets.take("new")  # full: forgets idle-1 and idle-2 (refilled), not busy
    assert len(buckets) == 2


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/api/identity/auth/sign-in", True),
        ("/api/identity/auth/sign-in-as-admin", False),
        ("/api/identity/auth/sign-out", True),
        ("/api/identity/auth/mfa/enrol", True),
        ("/api/identity/auth/mfa/confirm", True),
        ("/api/identity/auth/password-reset", True),
        ("/api/identity/oauth/token", False),
        ("/api/identity/signing-keys/rotate", False),
        ("/api/identity/auth/refresh", True),
        ("/api/identity/auth/refresh/extra", False),
        ("/api/identity/auth/password-reset/confirm", True),
        ("/api/identity/.well-known/jwks.json", True),
        ("/api/identity/users", False),
        ("/api/clinical/auth/sign-in", False),
    ],
)
def test_only_identitys_sign_in_refresh_reset_and_keys_need_no_token(
    path: str, public: bool
) -> None:
    assert is_public(path, DEFAULT_PUBLIC_PATHS) is public


def test_api_paths_split_into_service_and_upstream_path_keeping_encoding() -> None:
    assert split_api_path("/api/clinical/clients/a%20b") == ("clinical", "/clients/a%20b")
    assert split_api_path("/api/clinical") == ("clinical", "/")
    assert split_api_path("/api/clinical/") == ("clinical", "/")


@pytest.mark.parametrize(
    "raw", ["/api/clinical/../identity/x", "/api/clinical/a/%2e%2e/b", "/api/clinical/./x", "/api/"]
)
def test_dot_segments_and_empty_services_are_refused(raw: str) -> None:
    with pytest.raises(BadPath):
        split_api_path(raw)


def test_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    assert client_address("203.0.113.9", "1.2.3.4", []) == "203.0.113.9"
    assert client_address("10.0.0.5", "1.2.3.4", ["10.0.0.0/8"]) == "1.2.3.4"
    # A forged first hop in front of the real one does not fool us.
    assert client_address("10.0.0.5", "6.6.6.6, 1.2.3.4", ["10.0.0.0/8"]) == "1.2.3.4"
    assert client_address("10.0.0.5", "1.2.3.4, 10.0.0.7", ["10.0.0.0/8"]) == "1.2.3.4"
    assert client_address("10.0.0.5", None, ["10.0.0.0/8"]) == "10.0.0.5"


def test_upstream_headers_keep_the_token_and_replace_what_the_gateway_vouches_for() -> None:
    incoming = [
        ("authorization", "Bearer abc"),
        ("content-type", "application/json"),
        ("connection", "keep-alive, x-secret-hop"),
        ("x-secret-hop", "1"),
        ("x-forwarded-for", "6.6.6.6"),
        ("x-request-id", "client-chosen"),
        ("traceparent", "00-forged-forged-01"),
        ("host", "halcyon.example"),
    ]
    headers = upstream_request_headers(
        incoming, request_id="rid-1", client="203.0.113.9", host="halcyon.example", scheme="https"
    )
    assert ("authorization", "Bearer abc") in headers
    assert ("content-type", "application/json") in headers
    names = [n for n, _ in headers]
    assert "connection" not in names
    assert "x-secret-hop" not in names
    assert "traceparent" not in names
    assert "host" not in names
    assert dict(headers)["x-forwarded-for"] == "203.0.113.9"
    assert dict(headers)["x-request-id"] == "rid-1"
    assert names.count("x-request-id") == 1


def test_response_headers_drop_hop_by_hop_and_keep_repeated_cookies() -> None:
    out = downstream_response_headers(
        [
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("transfer-encoding", "chunked"),
            ("x-request-id", "rid"),
            ("content-type", "application/json"),
        ]
    )
    assert out == [
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("content-type", "application/json"),
    ]


def _service_doc(schema_name: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    return {
        "openapi": "3.1.0",
        "paths": {
            "/clients": {
                "post": {
                    "operationId": "register_client",
                    "tags": ["clients"],
                    "requestBody": {"content": {"application/json": {"schema": ref}}},
                    "responses": {"422": {"$ref": "#/components/responses/Invalid"}},
                }
            },
            "/auth/sign-in": {"post": {"operationId": "sign_in", "tags": ["auth"]}},
        },
        "components": {
            "schemas": {
                schema_name: {"type": "object"},
                "HTTPValidationError": {"type": "object", "title": schema_name},
            },
            "responses": {"Invalid": {"description": "bad"}},
        },
    }


def test_merged_openapi_prefixes_paths_and_components_so_services_never_clash() -> None:
    merged = merge_openapi(
        {"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": {"/healthz": {}}},
        {"clinical": _service_doc("Client"), "identity": _service_doc("User")},
        public_paths=DEFAULT_PUBLIC_PATHS,
        unavailable=["billing"],
    )
    paths = merged["paths"]
    assert {"/healthz", "/api/clinical/clients", "/api/identity/clients"} <= set(paths)
    schemas = merged["components"]["schemas"]
    # Both services' HTTPValidationError survive, each under its own name.
    assert schemas["clinical.HTTPValidationError"]["title"] == "Client"
    assert schemas["identity.HTTPValidationError"]["title"] == "User"
    post = paths["/api/clinical/clients"]["post"]
    body_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/clinical.Client"
    assert post["responses"]["422"]["$ref"] == "#/components/responses/clinical.Invalid"
    assert post["operationId"] == "clinical.register_client"
    assert post["tags"] == ["clinical: clients"]
    # Every $ref resolves.
    for kind, name in _refs(merged):
        assert name in merged["components"][kind], (kind, name)
    assert merged["security"] == [{"bearer": []}]
    assert paths["/api/identity/auth/sign-in"]["post"]["security"] == []
    assert "security" not in paths["/api/clinical/auth/sign-in"]["post"]
    assert merged["x-halcyon-unavailable-services"] == ["billing"]


def _refs(node: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                _, _, kind, name = value.split("/", 3)
                found.append((kind, name))
            else:
                found.extend(_refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_refs(item))
    return found


def test_settings_read_upstreams_as_json_and_default_the_jwks_to_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HALCYON_JWKS_URL", raising=False)
    monkeypatch.setenv(
        "HALCYON_GATEWAY_UPSTREAMS",
        '{"clinical": "http://127.0.0.1:8102/", "identity": "http://127.0.0.1:8101"}',
    )
    monkeypatch.setenv("HALCYON_GATEWAY_USER_RATE_LIMIT", '{"per_minute": 5, "burst": 2}')
    settings = GatewaySettings()
    assert settings.upstreams["clinical"] == "http://127.0.0.1:8102"
    assert settings.jwks_url == "http://127.0.0.1:8101/.well-known/jwks.json"
    assert settings.user_rate_limit.burst == 2
    assert settings.readiness_upstreams() == ["clinical", "identity"]


def test_settings_refuse_an_upstream_without_an_http_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALCYON_GATEWAY_UPSTREAMS", '{"clinical": "127.0.0.1:8102"}')
    with pytest.raises(ValueError, match="http"):
        GatewaySettings()


def test_the_835_upload_route_gets_its_own_body_limit_and_others_the_default() -> None:
    settings = GatewaySettings(upstreams={"billing": "http://billing", "clinical": "http://c"})
    assert settings.body_limit("billing", "/remittances") == 10 * 1024 * 1024
    assert settings.body_limit("billing", "/payers") == settings.max_body_bytes == 1_048_576
    assert settings.body_limit("clinical", "/remittances") == settings.max_body_bytes


@pytest.mark.parametrize(
    "path",
    [
        "/api/identity/agencies",
        "/api/identity/agencies/",
        "/api/identity//agencies",
        "/api/identity/Agencies",
        "/api/identity/%61gencies",
        "/api/identity/service-clients",
        "/api/identity/oauth/token",
        "/api/identity/signing-keys/rotate",
    ],
)
def test_operator_paths_are_recognised_however_they_are_spelt(path: str) -> None:
    assert is_operator_path(path, DEFAULT_OPERATOR_PATHS)


def test_tenant_paths_are_not_operator_paths() -> None:
    for path in ["/api/identity/staff", "/api/identity/auth/sign-in", "/api/clinical/agencies"]:
        assert not is_operator_path(path, DEFAULT_OPERATOR_PATHS)


def test_the_operator_secret_never_crosses_the_gateway() -> None:
    headers = upstream_request_headers(
        [("X-Platform-Operator-Secret", "s3cret"), ("authorization", "Bearer t")],
        request_id="r",
        client="10.0.0.1",
        host=None,
        scheme="https",
    )
    assert all(name.lower() != "x-platform-operator-secret" for name, _ in headers)
    assert ("authorization", "Bearer t") in headers


def test_operator_paths_are_left_out_of_the_public_document() -> None:
    identity: dict[str, Any] = {
        "paths": {
            "/agencies": {"post": {"responses": {}}},
            "/signing-keys/rotate": {"post": {"responses": {}}},
            "/staff": {"get": {"responses": {}}},
        }
    }
    merged = merge_openapi(
        {"paths": {}}, {"identity": identity}, hidden_paths=DEFAULT_OPERATOR_PATHS
    )
    assert set(merged["paths"]) == {"/api/identity/staff"}


def test_files_are_allowed_their_size_on_their_own_routes_only() -> None:
    settings = GatewaySettings()
    ten_mib = 10 * 1024 * 1024
    assert settings.body_limit("billing", "/remittances") == ten_mib
    assert settings.body_limit("clinical", "/clients/c-1/documents") == ten_mib
    assert settings.body_limit("console", "/clients/c-1/documents") > ten_mib  # form fields
    assert settings.body_limit("clinical", "/clients/c-1/notes") == settings.max_body_bytes
    assert settings.body_limit("billing", "/clients/c-1/documents") == settings.max_body_bytes
    assert settings.body_limit("clinical", "/clients/c-1/documents/x") == settings.max_body_bytes
