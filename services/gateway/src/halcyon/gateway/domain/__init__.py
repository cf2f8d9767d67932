"""Gateway rules: pure, no I/O (routing, rate limits, header policy, OpenAPI merging)."""
