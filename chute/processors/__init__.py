"""Processors: the functions pipeline steps run (built-ins and installed plug-ins)."""

from chute.errors import Reject, Retry
from chute.jobs import SourceObject, StagedOutput
from chute.processors.base import Context, local_context
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
