"""Billing HTTP API."""

from __future__ import annotations

from fastapi import APIRouter
from halcyon.billing.api import (
    accounts,
    charges,
    claims,
    dashboards,
    drugs,
    eligibility,
    remittances,
    setup,
)

routers: list[APIRouter] = [
    setup.router,
    drugs.router,
    charges.router,
    claims.router,
    remittances.router,
    accounts.router,
    eligibility.router,
    dashboards.router,
]
