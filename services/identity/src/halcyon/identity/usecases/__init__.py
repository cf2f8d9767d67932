"""Identity's orchestration: load, decide with the domain, write, emit."""
