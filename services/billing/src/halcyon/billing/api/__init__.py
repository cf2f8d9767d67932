"""Billing HTTP API."""

from __future__ import annotations

from fastapi import APIRouter
from halcyon.billing.api import accounts, charges, claims, drugs, remittances, setup

routers: list[APIRouter] = [
    setup.router,
    drugs.router,
    charges.router,
    claims.router,
    remittances.router,
    accounts.router,
]
