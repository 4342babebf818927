"""The ledger: commands, the read-decide-commit loop, the program, the read side."""
