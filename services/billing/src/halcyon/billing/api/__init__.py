"""Billing HTTP API."""

from __future__ import annotations

from fastapi import APIRouter
from halcyon.billing.api import accounts, charges, claims, remittances, setup

routers: list[APIRouter] = [
    setup.router,
    charges.router,
    claims.router,
    remittances.router,
    accounts.router,
]
