"""Halcyon gateway service."""
