"""Inventory HTTP API."""
