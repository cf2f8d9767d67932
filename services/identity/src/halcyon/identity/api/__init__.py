"""Identity's HTTP API, one router per area."""
