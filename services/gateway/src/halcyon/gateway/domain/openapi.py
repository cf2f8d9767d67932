"""One OpenAPI document for the whole platform, merged from each service's own.

Each service's paths move under ``/api/<service>``; every component is renamed
``<service>.<Name>`` (and every ``$ref`` rewritten) so two services' ``Client`` or
``HTTPValidationError`` never overwrite each other; tags and operation ids get the
service's name too, so Swagger UI groups operations by service and ids stay unique.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from halcyon.gateway.domain.routing import is_operator_path, is_public

BEARER_SCHEME = "bearer"
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _rewrite_refs(node: Any, service: str) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                _, _, kind, name = value.split("/", 3)
                out[key] = f"#/components/{kind}/{service}.{name}"
            else:
                out[key] = _rewrite_refs(value, service)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, service) for item in node]
    return node


def merge_openapi(
    base: Mapping[str, Any],
    services: Mapping[str, Mapping[str, Any]],
    *,
    public_paths: Iterable[str] = (),
    unavailable: Iterable[str] = (),
    hidden_paths: Iterable[str] = (),
) -> dict[str, Any]:
    """``base`` is the gateway's own document; ``services`` maps name -> its document."""
    public = list(public_paths)
    hidden = list(hidden_paths)  # operator paths: not reachable here, so not documented
    merged = copy.deepcopy(dict(base))
    paths: dict[str, Any] = merged.setdefault("paths", {})
    components: dict[str, Any] = merged.setdefault("components", {})
    tags: list[dict[str, Any]] = list(merged.get("tags", []))

    for service in sorted(services):
        doc = _rewrite_refs(copy.deepcopy(dict(services[service])), service)
        for kind, entries in (doc.get("components") or {}).items():
            bucket = components.setdefault(kind, {})
            for name, value in entries.items():
                bucket[f"{service}.{name}"] = value
        declared_tags = {t.get("name"): t for t in doc.get("tags", []) if isinstance(t, dict)}
        seen_tags: set[str] = set()
        for path, item in (doc.get("paths") or {}).items():
            public_path = f"/api/{service}{path}" if path != "/" else f"/api/{service}"
            if is_operator_path(public_path, hidden):
                continue
            for method, operation in item.items():
                if method not in _HTTP_METHODS or not isinstance(operation, dict):
                    continue
                if "operationId" in operation:
                    operation["operationId"] = f"{service}.{operation['operationId']}"
                op_tags = [f"{service}: {t}" for t in operation.get("tags", [])] or [service]
                operation["tags"] = op_tags
                seen_tags.update(op_tags)
                if is_public(public_path, public):
                    operation["security"] = []  # reachable without a token
            paths[public_path] = item
        for tag in sorted(seen_tags):
            original = declared_tags.get(tag.partition(": ")[2]) or {}
            tags.append({**original, "name": tag})

    components.setdefault("securitySchemes", {})[BEARER_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Access token from identity's sign-in",
    }
    merged["security"] = [{BEARER_SCHEME: []}]
    if tags:
        merged["tags"] = tags
    missing = sorted(unavailable)
    if missing:
        # Partial beats nothing: say which services are missing rather than failing.
        merged["x-halcyon-unavailable-services"] = missing
    return merged
