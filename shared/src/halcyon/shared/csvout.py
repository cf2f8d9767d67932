"""Dashboards as CSV: one header row, then one row per figure; money stays integer cents."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import Response


def to_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return buffer.getvalue().encode("utf-8")


def csv_response(name: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Response:
    return Response(
        to_csv(columns, rows),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
