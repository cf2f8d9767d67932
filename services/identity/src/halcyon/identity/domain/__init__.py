"""Identity rules: pure, no I/O."""
