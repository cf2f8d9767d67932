"""Clinical rules: pure, no I/O."""
