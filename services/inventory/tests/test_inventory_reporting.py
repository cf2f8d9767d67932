"""Report rendering without servers: every column present, nothing invented."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from halcyon.inventory import reporting

ROW = {
    "registrant_dea_number": "RD1234567",
    "dispensed_on": datetime(2026, 11, 27, 15, 4, tzinfo=UTC),
    "substance": "MDMA",
    "schedule": "I",
    "form": "capsule",
    "strength_mg": 40.0,
    "units_per_container": 30,
    "lot_number": "MD-001",
    "quantity_mg": 120.0,
    "units": 3.0,
    "client_name": "Ada Lovelace",
    "client_address": "1 Main St, Denver",
    "administered_by": "Nurse (staff-nurse)",
    "witness": "W (staff-w)",
    "prescriber": "P (staff-p)",
    "prescriber_dea_number": "BP1234563",
    "appointment_id": "appt-1",
    "supplemental": False,
    "entry_id": "op-0",
}


def test_dispensing_log_csv_has_every_1304_22_c_column_in_order() -> None:
    [header, row] = list(
        csv.reader(io.StringIO(reporting.to_csv(reporting.DISPENSING_LOG, [ROW]).decode()))
    )
    assert header == [c.title for c in reporting.DISPENSING_LOG]
    values = dict(zip(header, row, strict=True))
    assert values["Date dispensed"] == "2026-11-27 15:04 UTC"
    assert values["Quantity dispensed (mg)"] == "120"
    assert values["Dispensed to (name)"] == "Ada Lovelace"
    assert values["Dispensed to (address)"] == "1 Main St, Denver"
    assert values["Supplemental dose"] == "no"
    for required in (
        "substance",
        "form",
        "strength_mg",
        "units_per_container",
        "quantity_mg",
        "units",
        "client_name",
        "client_address",
        "dispensed_on",
        "administered_by",
    ):
        assert required in {c.key for c in reporting.DISPENSING_LOG}


def test_pdf_is_a_pdf_and_keeps_every_title() -> None:
    pdf = reporting.to_pdf("Dispensing log", "DEA RD1234567", reporting.DISPENSING_LOG, [ROW])
    assert pdf.startswith(b"%PDF")
    assert b"Lovelace" in pdf
    empty = reporting.to_pdf("Dispensing log", "none", reporting.DISPENSING_LOG, [])
    assert b"No records in this period" in empty
