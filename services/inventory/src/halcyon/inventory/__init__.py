"""Halcyon inventory service."""
