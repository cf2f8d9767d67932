"""Notifications rules: pure, no I/O (who is told what, when, through which channel)."""
