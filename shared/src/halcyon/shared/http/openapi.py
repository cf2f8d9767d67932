"""An OpenAPI document that tells the truth about errors and strings (ADR 0010).

FastAPI documents the happy path and a 422 shaped like its own validation error; our
services answer every error as an RFC 9457 problem (``application/problem+json``) and
the input guard refuses more than the schemas said. ``truthful_openapi`` post-processes
a document so that:

- every operation declares the problem responses it can give — 400 (unreadable input,
  a bad cursor), 401, 403, 404, 422, 429 (the gateway's rate limit), and on writes 409
  and 413 — each as ``application/problem+json`` with one ``Problem`` schema;
- every string without a declared ``maxLength`` gets the guard's limit;
- ``format: time`` (which JSON Schema defines as RFC 3339 *full-time*, with an offset)
  becomes what the services mean: a wall-clock time without an offset, as a pattern.

It is idempotent, so the gateway runs it again over the merged document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_JSON = "application/problem+json"
# Not "Problem": clinical has a model of that name (a client's clinical problem).
PROBLEM_SCHEMA_NAME = "ProblemDetails"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: what went wrong, never a stack trace.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For 422: which fields failed and why",
            "items": {"type": "object"},
        },
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}
PROBLEM_DESCRIPTIONS = {
    400: "The request cannot be read (malformed JSON, nesting too deep, a bad cursor)",
    401: "No valid access token",
    403: "The caller's roles or sites do not allow this",
    404: "No such resource in the caller's agency",
    409: "Conflicts with the current state (or a request with this Idempotency-Key runs)",
    413: "The body is larger than the service accepts",
    422: "The request is not valid or breaks a business rule; nothing was saved",
    429: "Too many requests; retry after the Retry-After seconds",
}
EVERY_OPERATION = (400, 401, 403, 404, 422, 429)
WRITES_ONLY = (409, 413)
_WRITES = {"post", "put", "patch", "delete"}
_METHODS = _WRITES | {"get", "head", "options", "trace"}
WALL_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


def _problem_ref(document: dict[str, Any]) -> str:
    """The ``$ref`` of the Problem schema, added once (kept under its merged name if the
    gateway already renamed it ``<service>.Problem``)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(PROBLEM_SCHEMA_NAME, PROBLEM_SCHEMA)
    return f"#/components/schemas/{PROBLEM_SCHEMA_NAME}"


def _declare_problems(operation: dict[str, Any], method: str, ref: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses = [*EVERY_OPERATION, *(WRITES_ONLY if method in _WRITES else ())]
    problem_content = {PROBLEM_JSON: {"schema": {"$ref": ref}}}
    for status in statuses:
        existing = responses.get(str(status))
        if existing is None:
            responses[str(status)] = {
                "description": PROBLEM_DESCRIPTIONS[status],
                "content": problem_content,
            }
        else:
            content = existing.setdefault("content", {})
            if PROBLEM_JSON not in content:
                # FastAPI's own 422 says application/json + HTTPValidationError; we never
                # send that shape.
                content.pop("application/json", None)
                content[PROBLEM_JSON] = {"schema": {"$ref": ref}}
    for status, response in responses.items():
        # Any other error the route declared (503 on readiness...) is a problem too.
        if status.isdigit() and int(status) >= 400 and isinstance(response, dict):
            content = response.setdefault("content", {})
            if not content or set(content) == {"application/json"}:
                content.pop("application/json", None)
                content[PROBLEM_JSON] = {"schema": {"$ref": ref}}


def _honest_strings(node: Any, max_string_chars: int) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string":
            if node.get("format") == "time":
                del node["format"]
                node.setdefault("pattern", WALL_CLOCK_TIME)
                node.setdefault("description", "A wall-clock time HH:MM[:SS], no offset")
            if (
                "maxLength" not in node
                and "enum" not in node
                and "const" not in node
                and node.get("format") not in {"binary", "date", "date-time", "uuid"}
            ):
                node["maxLength"] = max_string_chars
        for value in node.values():
            _honest_strings(value, max_string_chars)
    elif isinstance(node, list):
        for item in node:
            _honest_strings(item, max_string_chars)


def truthful_openapi(document: dict[str, Any], *, max_string_chars: int) -> dict[str, Any]:
    ref = _problem_ref(document)
    for item in (document.get("paths") or {}).values():
        for method, operation in item.items():
            if method in _METHODS and isinstance(operation, dict):
                _declare_problems(operation, method, ref)
    _honest_strings(document.get("paths"), max_string_chars)
    _honest_strings(document.get("components"), max_string_chars)
    return document


def install_truthful_openapi(app: FastAPI, *, max_string_chars: int) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) return the post-processed document."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = truthful_openapi(document, max_string_chars=max_string_chars)
        return app.openapi_schema

    setattr_openapi: Callable[[], dict[str, Any]] = build
    app.openapi = setattr_openapi  # type: ignore[method-assign]
