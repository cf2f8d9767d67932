"""Benchmarks (`make bench`): each run measures the floors on this machine, then the platform."""
