"""Notifications use cases: load, decide with the domain, write, emit."""
