"""Chute's settings as data: what ``chute.toml``, ``CHUTE_*`` variables and flags say.

Core: every layer may read these models; none of them does anything. :func:`load_settings`
builds and validates them.
"""

from chute.settings.auth import AuthSettings
from chute.settings.blobs import BlobSettings
from chute.settings.functions import ConfiguredFunction, FunctionConfig, FunctionPermission
from chute.settings.http import HttpSettings
from chute.settings.load import load_settings
from chute.settings.model import SMALL_BLOB_LIMIT, Settings, split_address
from chute.settings.multipart import MIN_PART_SIZE, MultipartSettings
from chute.settings.pipelines import (
    NAME,
    NotifyConfig,
    PipelineConfig,
    RetryConfig,
    StepConfig,
    TriggerConfig,
)
from chute.settings.retention import RetentionSettings
from chute.settings.s3 import S3Settings
from chute.settings.tls import TlsSettings
from chute.settings.webhooks import WebhookConfig
from chute.settings.worker import WorkerSettings

__all__ = [
    "MIN_PART_SIZE",
    "NAME",
    "SMALL_BLOB_LIMIT",
    "AuthSettings",
    "BlobSettings",
    "ConfiguredFunction",
    "FunctionConfig",
    "FunctionPermission",
    "HttpSettings",
    "MultipartSettings",
    "NotifyConfig",
    "PipelineConfig",
    "RetentionSettings",
    "RetryConfig",
    "S3Settings",
    "Settings",
    "StepConfig",
    "TlsSettings",
    "TriggerConfig",
    "WebhookConfig",
    "WorkerSettings",
    "load_settings",
    "split_address",
]
