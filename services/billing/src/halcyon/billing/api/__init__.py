"""Billing HTTP API."""

from __future__ import annotations

from fastapi import APIRouter
from halcyon.billing.api import charges

routers: list[APIRouter] = [charges.router]
