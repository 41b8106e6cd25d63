"""Processors: the functions pipeline steps run (built-ins and installed plug-ins)."""

from chute.errors import Reject, Retry
from chute.processors.base import Context, SourceObject, StagedOutput, local_context
from chute.processors.registry import get_processor, processor

__all__ = [
    "Context",
    "Reject",
    "Retry",
    "SourceObject",
    "StagedOutput",
    "get_processor",
    "local_context",
    "processor",
]
