"""The catalog: buckets, object versions, events and access keys in SQL (SQLite or
PostgreSQL)."""

from chute.catalog.records import (
    NULL_VERSION,
    Bucket,
    EventRow,
    FunctionLogEntry,
    NewFunctionLog,
    NewVersion,
    ObjectVersion,
    Part,
    Rollup,
    StoredFunction,
    StoredKey,
    StoredLayerVersion,
    Upload,
    Versioning,
)
from chute.catalog.store import Catalog, CatalogSession

__all__ = [
    "NULL_VERSION",
    "Bucket",
    "Catalog",
    "CatalogSession",
    "EventRow",
    "FunctionLogEntry",
    "NewFunctionLog",
    "NewVersion",
    "ObjectVersion",
    "Part",
    "Rollup",
    "StoredFunction",
    "StoredKey",
    "StoredLayerVersion",
    "Upload",
    "Versioning",
]
