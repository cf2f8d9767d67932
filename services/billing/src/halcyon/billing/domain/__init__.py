"""Billing rules: pure, no I/O."""
