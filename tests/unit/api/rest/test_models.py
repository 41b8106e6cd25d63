"""The JSON API's models, apart from a server: what they accept and how they read."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

from chute.api.rest.models.buckets import VersioningStatus
from chute.catalog import Versioning


def test_versioning_states_are_the_catalogs() -> None:
    assert set(get_args(VersioningStatus)) == {state.value for state in Versioning}


def test_the_models_load_neither_the_catalog_nor_the_web_framework() -> None:
    """The CLI parses answers with them and must start fast."""
    code = (
        "import sys, chute.api.rest.models.objects, chute.api.rest.models.status, "
        "chute.api.rest.models.pipelines, chute.api.rest.models.health; "
        "print(sorted({'sqlalchemy', 'fastapi', 'starlette'} & set(sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "[]", loaded.stderr
