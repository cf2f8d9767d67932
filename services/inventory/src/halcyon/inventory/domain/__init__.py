"""Inventory rules: pure, no I/O."""
