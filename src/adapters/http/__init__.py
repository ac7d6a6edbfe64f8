"""The HTTP API other apps integrate through (FastAPI)."""
