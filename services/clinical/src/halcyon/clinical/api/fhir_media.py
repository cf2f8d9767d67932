"""The media types the FHIR API answers with, declared so the OpenAPI document says what
a client really receives (application/fhir+json, NDJSON, or no body at all)."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse
from halcyon.clinical.domain.bulk_export import NDJSON

FHIR_JSON = "application/fhir+json"


class FhirJSONResponse(JSONResponse):
    media_type = FHIR_JSON


class NdjsonResponse(Response):
    media_type = NDJSON


class NoBody(Response):
    """A status and headers only (202 Accepted of the bulk-export kick-off and polls)."""

    media_type = None


def in_progress(description: str, **headers: str) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI entry for a 202 that carries headers and no body."""
    return {
        202: {
            "description": description,
            "headers": {
                name.replace("_", "-"): {"description": text, "schema": {"type": "string"}}
                for name, text in headers.items()
            },
        }
    }
