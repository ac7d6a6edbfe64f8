"""Adapters: persistence wiring, CLI, settings, logging."""
