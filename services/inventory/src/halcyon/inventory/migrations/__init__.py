"""One-off data migrations, each idempotent and run with the service stopped."""
