"""Halcyon identity service."""
