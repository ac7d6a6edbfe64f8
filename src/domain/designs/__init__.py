"""Dose-escalation designs (pure functions over trial paths)."""
