"""Clinical service: clients (patients) and their chart."""
