"""Halcyon notifications service."""
