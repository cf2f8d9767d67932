"""Gateway rules: pure, no I/O."""
