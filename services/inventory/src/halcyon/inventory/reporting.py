"""Report rendering: rows → CSV or PDF. No I/O; the API decides what goes in.

The column lists are the regulation: a report that drops a column fails its test.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import landscape, legal
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT_SIZE = 6
CELL_PADDING = 7.0  # 3 pt either side (set in the table style), and a little slack


@dataclass(frozen=True)
class Column:
    key: str
    title: str


# 21 CFR 1304.22(c) (dispensing by a practitioner) with the product facts of
# 1304.22(a)(2)(i)-(iii): substance, finished form, units per commercial container.
DISPENSING_LOG = (
    Column("registrant_dea_number", "Registrant DEA number"),
    Column("dispensed_on", "Date dispensed"),
    Column("substance", "Substance"),
    Column("schedule", "Schedule"),
    Column("form", "Finished form"),
    Column("strength_mg", "Strength (mg)"),
    Column("units_per_container", "Units per container"),
    Column("lot_number", "Lot"),
    Column("quantity_mg", "Quantity dispensed (mg)"),
    Column("units", "Units dispensed"),
    Column("client_name", "Dispensed to (name)"),
    Column("client_address", "Dispensed to (address)"),
    Column("administered_by", "Dispensed/administered by"),
    Column("witness", "Witness"),
    Column("prescriber", "Prescriber"),
    Column("prescriber_dea_number", "Prescriber DEA number"),
    Column("appointment_id", "Appointment"),
    Column("supplemental", "Supplemental dose"),
    Column("entry_id", "Ledger entry"),
)

# 21 CFR 1304.11(e)(3): substance, each finished form and strength, units per container,
# number of containers (or exact count for I-II); 1304.11(a): date, opening/close of business.
BIENNIAL_INVENTORY = (
    Column("registrant_dea_number", "Registrant DEA number"),
    Column("taken_on", "Date taken"),
    Column("taken_at", "Opening/close of business"),
    Column("substance", "Substance"),
    Column("schedule", "Schedule"),
    Column("form", "Finished form"),
    Column("strength_mg", "Strength (mg)"),
    Column("units_per_container", "Units per container"),
    Column("containers", "Containers"),
    Column("units", "Units"),
    Column("counted_mg", "Quantity (mg)"),
    Column("estimated", "Estimated"),
    Column("lot_number", "Lot"),
    Column("location_name", "Location"),
)

LOT_HISTORY = (
    Column("recorded_at", "Recorded at"),
    Column("seq", "Seq"),
    Column("registrant_dea_number", "Registrant DEA number"),
    Column("kind", "Entry"),
    Column("substance", "Substance"),
    Column("schedule", "Schedule"),
    Column("lot_number", "Lot"),
    Column("location_name", "Location"),
    Column("change_mg", "Change (mg)"),
    Column("detail", "Detail"),
    Column("recorded_by", "Recorded by"),
    Column("entry_id", "Ledger entry"),
)

# The whole ledger of a registration, in chain order, with the hashes that let anyone
# re-verify the chain after the data has left (issue 21: leave with your data).
LEDGER = (
    Column("seq", "Seq"),
    Column("recorded_at", "Recorded at"),
    Column("registrant_dea_number", "Registrant DEA number"),
    Column("kind", "Entry"),
    Column("substance", "Substance"),
    Column("schedule", "Schedule"),
    Column("form", "Finished form"),
    Column("strength_mg", "Strength (mg)"),
    Column("lot_number", "Lot"),
    Column("location_name", "Location"),
    Column("change_mg", "Change (mg)"),
    Column("detail", "Detail"),
    Column("recorded_by", "Recorded by"),
    Column("archived", "Archived"),
    Column("entry_id", "Ledger entry"),
    Column("prev_hash", "Previous hash"),
    Column("hash", "Hash"),
)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, datetime):
        # Shown in the zone it carries (the site's, where the caller converted it).
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.strftime("%Y-%m-%d %H:%M %Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_csv(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.title for c in columns])
    for row in rows:
        writer.writerow([_text(row.get(c.key)) for c in columns])
    return buffer.getvalue().encode()


def to_pdf(
    title: str, subtitle: str, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]
) -> bytes:
    buffer = io.BytesIO()
    # Uncompressed page streams: the text stays searchable by tools and by our tests.
    document = SimpleDocTemplate(
        buffer,
        pagesize=landscape(legal),
        leftMargin=0.4 * inch,
        rightMargin=0.4 * inch,
        topMargin=0.5 * inch,
        bottomMargin=0.5 * inch,
        title=title,
        pageCompression=0,
    )
    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=FONT_SIZE, leading=FONT_SIZE + 1)
    head = styles["BodyText"].clone(
        "head", fontSize=FONT_SIZE, leading=FONT_SIZE + 1, fontName="Helvetica-Bold"
    )
    data = [[Paragraph(c.title, head) for c in columns]]
    data += [[Paragraph(_escape(_text(r.get(c.key))), cell) for c in columns] for r in rows]
    table = Table(data, repeatRows=1, colWidths=_widths(columns, rows, document.width))
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    story = [
        Paragraph(_escape(title), styles["Title"]),
        Paragraph(_escape(subtitle), styles["Normal"]),
        Spacer(1, 8),
        table if rows else Paragraph("No records in this period.", styles["Normal"]),
    ]
    document.build(story)
    return buffer.getvalue()


def _widths(
    columns: Sequence[Column], rows: Sequence[Mapping[str, Any]], available: float
) -> list[float]:
    """Each column at least as wide as its longest word (so words are not split), the
    rest of the page shared by how much text the column holds."""

    def longest(text: str, font: str) -> float:
        return max((stringWidth(w, font, FONT_SIZE) for w in text.split()), default=0.0)

    minimum, weight = [], []
    for column in columns:
        texts = [_text(r.get(column.key)) for r in rows[:200]]
        word = max(
            [longest(column.title, "Helvetica-Bold"), *(longest(t, "Helvetica") for t in texts)]
        )
        minimum.append(min(word, 70.0) + CELL_PADDING)  # ids may wrap
        weight.append(max([stringWidth(t, "Helvetica", FONT_SIZE) for t in texts] or [1.0]))
    spare = available - sum(minimum)
    if spare <= 0:
        return [available * m / sum(minimum) for m in minimum]
    return [m + spare * w / sum(weight) for m, w in zip(minimum, weight, strict=True)]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
