"""Which upstream a request goes to, which paths need no token, which headers pass."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

# Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and never cross a proxy.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

# Request headers the gateway sets itself, so a client's own values are dropped:
# forged forwarding headers would poison the audit's source address, and trace headers
# are re-injected by the instrumented HTTP client with the gateway's span as parent.
_GATEWAY_OWNED_REQUEST = frozenset(
    {
        "host",
        "x-request-id",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
        "forwarded",
        "traceparent",
        "tracestate",
        # Operator credentials never ride in from the public side (ADR 0105).
        "x-platform-operator-secret",
    }
)

# Response headers the gateway (or its server) writes itself.
_GATEWAY_OWNED_RESPONSE = frozenset({"x-request-id", "date", "server"})


class BadPath(ValueError):
    """The path would leave the upstream's own tree (dot segments) or is malformed."""


def is_public(path: str, patterns: Iterable[str]) -> bool:
    """True when ``path`` is reachable without a token.

    A pattern is an exact path, or ``<prefix>/**`` matching the prefix and anything below
    it (segment-wise: ``/auth/sign-in/**`` does not match ``/auth/sign-in-admin``).
    """
    for pattern in patterns:
        if pattern.endswith("/**"):
            prefix = pattern[:-3]
            if path == prefix or path.startswith(prefix + "/"):
                return True
        elif path == pattern:
            return True
    return False


def is_operator_path(path: str, patterns: Iterable[str]) -> bool:
    """True when ``path`` names an operator-only action, however it is spelt: percent
    escapes decoded, repeated or trailing slashes and letter case ignored."""
    canonical = "/" + "/".join(s for s in unquote(path).lower().split("/") if s)
    return is_public(canonical, [p.lower() for p in patterns])


def split_api_path(raw_path: str) -> tuple[str, str]:
    """``/api/<service>/<rest>`` -> (service, ``/<rest>``), keeping percent-encoding.

    Dot segments are refused, encoded or not: the upstream base URL may carry a path
    prefix, and ``..`` must never climb out of it.
    """
    if not raw_path.startswith("/api/"):
        raise BadPath("not an API path")
    service, slash, rest = raw_path[len("/api/") :].partition("/")
    if not service:
        raise BadPath("no service named")
    upstream = "/" + rest if slash else "/"
    for segment in upstream.split("/"):
        if unquote(segment) in {".", ".."}:
            raise BadPath("dot segments are not allowed in API paths")
    return service, upstream


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[str]) -> str:
    """The address of whoever sent the request, believing X-Forwarded-For only from
    trusted proxies: walk the chain from the right, skipping our own proxies."""
    if peer is None:
        return "unknown"
    if not _is_trusted(peer, trusted) or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def upstream_request_headers(
    incoming: Sequence[tuple[str, str]],
    *,
    request_id: str,
    client: str,
    host: str | None,
    scheme: str,
) -> list[tuple[str, str]]:
    """Headers sent upstream: the client's end-to-end headers (Authorization included,
    so each service verifies the token itself), plus the ones the gateway vouches for."""
    connection_tokens = _connection_tokens(incoming)
    headers = [
        (name, value)
        for name, value in incoming
        if name.lower() not in HOP_BY_HOP
        and name.lower() not in _GATEWAY_OWNED_REQUEST
        and name.lower() not in connection_tokens
    ]
    headers.append(("x-request-id", request_id))
    # One address only: the access audit reads the first entry as the source address.
    headers.append(("x-forwarded-for", client))
    headers.append(("x-forwarded-proto", scheme))
    if host:
        headers.append(("x-forwarded-host", host))
    return headers


def downstream_response_headers(incoming: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    connection_tokens = _connection_tokens(incoming)
    return [
        (name, value)
        for name, value in incoming
        if name.lower() not in HOP_BY_HOP
        and name.lower() not in _GATEWAY_OWNED_RESPONSE
        and name.lower() not in connection_tokens
    ]


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Headers named in ``Connection`` are hop-by-hop too."""
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    }
