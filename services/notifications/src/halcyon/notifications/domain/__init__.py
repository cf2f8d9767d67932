"""Notifications rules: pure, no I/O."""
