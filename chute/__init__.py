"""Chute: a self-hosted, event-driven file processing pipeline."""

__version__ = "0.1.0"
