"""Test support: real servers, tokens, service processes, spans. Used by every test suite."""
