"""HTTP plumbing: problems, request ids, health, idempotency keys, pagination, auth deps."""
