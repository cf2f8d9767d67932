"""Every service has the same shape (issue 16): routes are thin entrypoints of about 30
lines (body, access, one use-case call, response). A route that grows past 40 lines has
rules in it that belong in ``usecases/`` or ``domain/``.

The routes below were longer when this test was written; each may only shrink, and one
that reaches 40 lines must leave the list. No new route may pass 40 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 40
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "api_route"}
# Route -> its length today (lines, decorators excluded). To be moved into use cases.
STILL_TOO_LONG = {
    "billing/api/accounts.py::client_payment": 61,
    "billing/api/claims.py::change_status": 47,
    "billing/api/setup.py::add_authorization": 53,
    "billing/api/setup.py::eligibility_request": 45,
    "clinical/api/assessments.py::submit_assessment": 69,
    "clinical/api/clients.py::register_client": 68,
    "clinical/api/clients.py::update_client": 51,
    "clinical/api/consents.py::disclose": 87,
    "clinical/api/consents.py::record_consent": 43,
    "clinical/api/consents.py::revoke_consent": 42,
    "clinical/api/forms.py::answer_questionnaire": 43,
    "clinical/api/notes.py::add_addendum": 65,
    "clinical/api/notes.py::cosign_note": 53,
    "clinical/api/notes.py::sign_note": 97,
    "clinical/api/screening.py::screen": 55,
    "clinical/api/vitals.py::record_vitals": 56,
    "identity/api/audit.py::break_the_glass": 65,
    "identity/api/audit.py::query_access_log": 48,
    "identity/api/auth.py::confirm_password_reset": 60,
    "identity/api/auth.py::refresh": 95,
    "identity/api/auth.py::sign_in": 91,
    "identity/api/directory.py::reset_mfa": 45,
    "identity/api/directory.py::update_staff": 44,
    "inventory/api/catalog.py::create_registration": 54,
    "inventory/api/ledger.py::archive_entry": 54,
    "inventory/api/ledger.py::count": 51,
    "inventory/api/ledger.py::dispense": 163,
    "inventory/api/ledger.py::receive": 43,
    "inventory/api/ledger.py::take_inventory": 98,
    "inventory/api/ledger.py::transfer": 70,
    "inventory/api/ledger.py::waste": 42,
    "inventory/api/reports.py::biennial_inventory": 50,
    "inventory/api/reports.py::dispensing_log": 90,
    "inventory/api/reports.py::lot_history": 59,
    "notifications/api.py::set_client_preferences": 52,
    "scheduling/api/appointments.py::book_series": 94,
    "scheduling/api/appointments.py::reschedule": 43,
    "scheduling/api/clients.py::protocol_readiness": 51,
    "scheduling/api/search.py::search_free_slots": 118,
    "scheduling/api/waitlist.py::accept_offer": 45,
    "scheduling/api/waitlist.py::join_waitlist": 41,
}


def route_lengths() -> dict[str, int]:
    found: dict[str, int] = {}
    files = sorted(ROOT.glob("services/*/src/halcyon/*/api/*.py")) + sorted(
        ROOT.glob("services/*/src/halcyon/*/api.py")
    )
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                isinstance(d, ast.Call)
                and isinstance(d.func, ast.Attribute)
                and d.func.attr in HTTP_METHODS
                for d in node.decorator_list
            ):
                assert node.end_lineno is not None
                name = f"{str(path).split('/src/halcyon/')[1]}::{node.name}"
                found[name] = node.end_lineno - node.lineno + 1
    return found


def test_routes_stay_thin() -> None:
    lengths = route_lengths()
    assert len(lengths) > 150  # the walk found the services' routes
    too_long = {
        name: length
        for name, length in lengths.items()
        if length > max(LIMIT, STILL_TOO_LONG.get(name, 0))
    }
    assert too_long == {}, f"routes over {LIMIT} lines: move their rules into usecases/"
    healed = sorted(n for n, limit in STILL_TOO_LONG.items() if lengths.get(n, 0) <= LIMIT)
    assert healed == [], f"now within {LIMIT} lines (or gone): remove from STILL_TOO_LONG"
