"""Who may do what in inventory (roles held at the record's site)."""

from __future__ import annotations

MANAGERS = frozenset({"agency_admin", "compliance_officer"})
HANDLERS = frozenset({"nurse", "prescriber", "compliance_officer"})
DISPENSERS = frozenset({"nurse", "prescriber"})
AUDITORS = frozenset({"compliance_officer", "agency_admin"})
READERS = HANDLERS | AUDITORS
