"""open_blob_store: the backend the settings name, with the settings' options."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from chute.blobs import open_blob_store
from chute.blobs.local import LocalBlobStore
from chute.blobs.memory import MemoryBlobStore
from chute.blobs.s3 import S3BlobStore
from chute.errors import ConfigError
from chute.settings import BlobSettings


def test_local_is_the_default_under_the_data_folder(tmp_path: Path) -> None:
    store = open_blob_store(BlobSettings(), tmp_path)
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs"
    assert store.partial_dir.is_dir()


def test_local_path_overrides_the_default(tmp_path: Path) -> None:
    store = open_blob_store(BlobSettings(path=tmp_path / "elsewhere"), tmp_path / "data")
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "elsewhere"


def test_memory(tmp_path: Path) -> None:
    assert isinstance(open_blob_store(BlobSettings(backend="memory"), tmp_path), MemoryBlobStore)


def test_s3_takes_its_options(tmp_path: Path) -> None:
    settings = BlobSettings(
        backend="s3", bucket="blobs", prefix="chute/", endpoint_url="http://127.0.0.1:1"
    )
    store = open_blob_store(settings, tmp_path)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.part_size) == ("blobs", "chute/", 8 * 1024 * 1024)
    store.close()


def test_s3_without_bucket_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="bucket is required"):
        BlobSettings(backend="s3")
    unchecked = BlobSettings.model_construct(backend="s3", bucket=None)
    with pytest.raises(ConfigError) as err:
        open_blob_store(unchecked, tmp_path)
    assert err.value.problems == [
        "blobs.bucket (CHUTE_BLOBS__BUCKET): required when blobs.backend is s3"
    ]
