"""A function cannot reach what is not its own: Chute's data folder (catalog, blobs,
master key) is hidden, its code is read-only, it runs without privileges (as
``nobody`` under root) and cannot undo the sandbox's mounts or kill its watcher."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chute.functions import sandbox
from chute.functions.environment import Environment, FunctionSpec
from tests.services import require

CODE = Path(__file__).parent / "code"


@pytest.fixture(autouse=True)
def _sandboxed() -> None:
    require(sandbox.isolated(), "a sandbox (unshare and setpriv that work)")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder outside /tmp (the sandbox replaces /tmp whole, hiding anything
    under it anyway), as a deployment's is."""
    folder = Path(tempfile.mkdtemp(prefix="chute-data-", dir="/var/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_function_sees_neither_chutes_data_nor_can_undo_its_sandbox(
    data_dir: Path, tmp_path: Path
) -> None:
    secret = data_dir / "master.key"
    secret.write_text("the master key")
    code = data_dir / "functions" / "code" / "abc"
    shutil.copytree(CODE, code)
    spec = FunctionSpec(
        name="probe",
        handler="probes.probe",
        task_root=code,
        memory_mb=256,
        timeout_seconds=10,
        region="us-east-1",
        arn="arn:aws:lambda:us-east-1:000000000000:function:probe",
    )
    environment = Environment(spec, data_dir / "functions" / "scratch", hidden=(data_dir,))
    try:
        event = {"secret": str(secret), "data": str(data_dir)}
        result = environment.invoke(json.dumps(event).encode())
        assert result.error_type is None, result.payload
        seen = json.loads(result.payload)
        if sandbox.runs_as_nobody():
            assert seen["uid"] == sandbox.NOBODY
        assert not seen["read_secret"]["ok"]
        assert seen["list_data"] == {"ok": True, "value": ["functions"]}
        assert not seen["write_code"]["ok"]
        assert seen["write_tmp"]["ok"]
        assert not seen["unmount_tmp"]["ok"]
        assert not seen["unmount_data"]["ok"]
        if sandbox.runs_as_nobody():  # (as the same user, it could kill its watcher)
            assert seen["kill_others"] == {"ok": True, "value": []}
        # The code in place is untouched, and the environment still serves.
        assert (code / "probes.py").read_text() == (CODE / "probes.py").read_text()
        again = environment.invoke(json.dumps(event).encode())
        assert again.error_type is None
    finally:
        environment.stop()
    assert secret.read_text() == "the master key"
