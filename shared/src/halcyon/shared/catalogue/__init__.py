"""The event catalogue: an AsyncAPI document, a Markdown page and an HTML page, all
generated from the contract models, plus the schema snapshots that guard v1 consumers.

Split by concern: ``about`` (what is said about a contract), ``examples`` (example
envelopes), ``asyncapi`` (the AsyncAPI document), ``fields`` (field tables for people),
``pages`` (Markdown and HTML) and ``evolution`` (snapshots and breaking changes).

Every contract in :mod:`halcyon.shared.contracts` is registered as a publisher on a
(never connected) faststream ``KafkaBroker`` with the full envelope as its payload
schema, and faststream's AsyncAPI generator writes the document. faststream cannot
attach message examples or deprecation, so :func:`build_asyncapi` adds them afterwards.

``python -m halcyon.shared.catalogue docs`` refreshes ``docs/asyncapi.json`` and
``docs/events.md`` and adds a schema snapshot for any contract without one;
``python -m halcyon.shared.catalogue snapshot docs`` only adds the missing snapshots.
"""

from __future__ import annotations

import json
from pathlib import Path

from halcyon.shared.catalogue.about import (
    DELIVERY,
    PARTNER_TOPIC_PREFIX,
    VERSION,
    deprecation_notice,
    description,
    is_partner,
    ordered_contracts,
    successor,
    summary,
)
from halcyon.shared.catalogue.asyncapi import (
    build_asyncapi,
    envelope_model,
    message_examples,
    payload_schema,
)
from halcyon.shared.catalogue.evolution import (
    V2_ADVICE,
    breaking_changes,
    published_schema,
    snapshot,
    snapshot_path,
)
from halcyon.shared.catalogue.examples import EXAMPLE_PUBLISHED_AT, EXAMPLE_TENANT, example_envelope
from halcyon.shared.catalogue.fields import FieldRow, field_rows, type_label
from halcyon.shared.catalogue.pages import catalogue_html, catalogue_markdown

__all__ = [
    "DELIVERY",
    "EXAMPLE_PUBLISHED_AT",
    "EXAMPLE_TENANT",
    "PARTNER_TOPIC_PREFIX",
    "V2_ADVICE",
    "VERSION",
    "FieldRow",
    "breaking_changes",
    "build_asyncapi",
    "catalogue_html",
    "catalogue_markdown",
    "deprecation_notice",
    "description",
    "envelope_model",
    "example_envelope",
    "field_rows",
    "is_partner",
    "message_examples",
    "ordered_contracts",
    "payload_schema",
    "published_schema",
    "snapshot",
    "snapshot_path",
    "successor",
    "summary",
    "type_label",
    "write",
]


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "asyncapi.json").write_text(json.dumps(build_asyncapi(), indent=2) + "\n")
    (directory / "events.md").write_text(catalogue_markdown())
    snapshot(directory)


def main(argv: list[str]) -> None:
    if argv[:1] == ["snapshot"]:
        for path in snapshot(Path(argv[1] if len(argv) > 1 else "docs")):
            print(f"snapshot added: {path}")
        return
    write(Path(argv[0] if argv else "docs"))
