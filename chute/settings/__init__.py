"""Chute's settings as data: what ``chute.toml``, ``CHUTE_*`` variables and flags say.

Core: every layer may read these models; none of them does anything. :func:`load_settings`
builds and validates them.
"""

from chute.settings.auth import AuthSettings
from chute.settings.blobs import BlobSettings
from chute.settings.load import load_settings
from chute.settings.model import SMALL_BLOB_LIMIT, Settings, split_address
from chute.settings.pipelines import (
    NAME,
    NotifyConfig,
    PipelineConfig,
    RetryConfig,
    StepConfig,
    TriggerConfig,
)
from chute.settings.retention import RetentionSettings
from chute.settings.tls import TlsSettings
from chute.settings.worker import WorkerSettings

__all__ = [
    "NAME",
    "SMALL_BLOB_LIMIT",
    "AuthSettings",
    "BlobSettings",
    "NotifyConfig",
    "PipelineConfig",
    "RetentionSettings",
    "RetryConfig",
    "Settings",
    "StepConfig",
    "TlsSettings",
    "TriggerConfig",
    "WorkerSettings",
    "load_settings",
    "split_address",
]
