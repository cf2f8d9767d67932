"""The dependencies inventory's routes use: the typed runtime, repositories, use cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from halcyon.inventory.runtime import InventoryRuntime
from halcyon.inventory.store import (
    Balances,
    Deadlines,
    Discrepancies,
    Ledger,
    Locations,
    Lots,
    Products,
    Registrations,
)
from halcyon.inventory.usecases.dispensing import Dispensing
from halcyon.inventory.usecases.inventories import Inventories
from halcyon.inventory.usecases.ledger_records import LedgerRecords
from halcyon.inventory.usecases.movements import StockMovements
from halcyon.inventory.usecases.reports import Reports
from halcyon.shared.http.pagination import PageParams, page_params
from halcyon.shared.service import repository, runtime_of


def inventory_runtime(request: Request) -> InventoryRuntime:
    """``runtime_of`` narrowed to inventory's settings and parts (app.py wires them)."""
    runtime: InventoryRuntime = runtime_of(request)
    return runtime


Runtime = Annotated[InventoryRuntime, Depends(inventory_runtime)]
Page = Annotated[PageParams, Depends(page_params)]

RegistrationRepo = Annotated[Registrations, repository(Registrations)]
ProductRepo = Annotated[Products, repository(Products)]
LocationRepo = Annotated[Locations, repository(Locations)]
LotRepo = Annotated[Lots, repository(Lots)]
BalanceRepo = Annotated[Balances, repository(Balances)]
LedgerRepo = Annotated[Ledger, repository(Ledger)]
DiscrepancyRepo = Annotated[Discrepancies, repository(Discrepancies)]
DeadlineRepo = Annotated[Deadlines, repository(Deadlines)]


def stock_movements(runtime: Runtime) -> StockMovements:
    return StockMovements(runtime)


def dispensing(runtime: Runtime) -> Dispensing:
    return Dispensing(runtime)


def inventories(runtime: Runtime) -> Inventories:
    return Inventories(runtime)


def ledger_records(runtime: Runtime) -> LedgerRecords:
    return LedgerRecords(runtime)


def reports(runtime: Runtime) -> Reports:
    return Reports(runtime)


Movements = Annotated[StockMovements, Depends(stock_movements)]
Dispenses = Annotated[Dispensing, Depends(dispensing)]
Counts = Annotated[Inventories, Depends(inventories)]
LedgerBook = Annotated[LedgerRecords, Depends(ledger_records)]
DeaReports = Annotated[Reports, Depends(reports)]
