"""Pipelines: declarative routing of events to processing steps."""
