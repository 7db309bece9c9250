"""orch: a Makefile-free build orchestrator for monorepos."""

__version__ = "0.1.0"
