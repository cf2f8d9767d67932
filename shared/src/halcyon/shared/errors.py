"""Errors the domain raises, each mapped to one stable RFC 9457 problem type.

Pure Python on purpose: ``domain/`` packages import these without pulling in
a web framework. ``halcyon.shared.http.problems`` renders them.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://halcyon.health/problems/"


class DomainError(Exception):
    status: int = 422
    slug: str = "business-rule-violated"
    title: str = "The request breaks a business rule"
    # Set by the one that already put this refusal on the access audit (RecordAccess),
    # so a route-wide auditor does not record it twice.
    audited: bool = False

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @property
    def problem_type(self) -> str:
        return PROBLEM_BASE + self.slug


class BadRequest(DomainError):
    status, slug, title = 400, "bad-request", "The request cannot be read"


class InvalidCursor(BadRequest, ValueError):
    """A pagination cursor we did not hand out (or one mangled on the way back).

    Also a ``ValueError`` so code that guarded ``decode_cursor`` with ``except ValueError``
    keeps working; unguarded, it renders as a 400 problem rather than a 500."""

    slug, title = "invalid-cursor", "The pagination cursor is not valid"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "No such record"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "The request conflicts with the current state"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "You are not allowed to do this"


class Unauthenticated(DomainError):
    status, slug, title = 401, "unauthenticated", "Sign-in required"


class RuleViolation(DomainError):
    status, slug, title = 422, "business-rule-violated", "The request breaks a business rule"


class Unavailable(DomainError):
    status, slug, title = 503, "unavailable", "A dependency is not reachable"
