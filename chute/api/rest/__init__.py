"""The JSON API (FastAPI), under /_/api/v1."""
