"""Halcyon billing service."""
