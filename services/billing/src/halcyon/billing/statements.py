"""Client statements as PDF (reportlab): what the client owes and why."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


def render_statement(
    *,
    agency: str,
    client_name: str,
    client_id: str,
    entries: list[dict[str, Any]],
    balance_cents: int,
    on: date,
) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=LETTER, pageCompression=0)
    pdf.setTitle(f"Statement {client_id} {on.isoformat()}")
    _width, height = LETTER
    y = height - inch

    def line(text: str, x: float = inch, size: int = 10, bold: bool = False) -> None:
        nonlocal y
        if y < inch:
            pdf.showPage()
            y = height - inch
        pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        pdf.drawString(x, y, text)

    line(agency, size=14, bold=True)
    y -= 20
    line(f"Statement for {client_name}", size=12)
    y -= 16
    line(f"Account {client_id}    Statement date {on.isoformat()}")
    y -= 28
    line("Date", bold=True)
    line("Description", x=2.2 * inch, bold=True)
    line("Amount", x=6.2 * inch, bold=True)
    y -= 16
    for entry in entries:
        posted = entry.get("posted_at")
        when = posted.date().isoformat() if isinstance(posted, datetime) else str(posted)[:10]
        line(when)
        line(str(entry.get("description", ""))[:60], x=2.2 * inch)
        line(money(int(entry["amount_cents"])), x=6.2 * inch)
        y -= 14
    y -= 14
    line("Balance due", x=2.2 * inch, bold=True)
    line(money(balance_cents), x=6.2 * inch, bold=True)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
