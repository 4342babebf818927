"""Pure loyalty rules: no AWS, no HTTP. Unit-tested without moto."""
