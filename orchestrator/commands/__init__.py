"""The command line: one module per group of commands, on one click group."""
