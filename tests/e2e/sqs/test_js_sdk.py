"""The AWS SDK for JavaScript v3's SQS client under Node, unchanged
(``tests/e2e/s3/clients/js/sqs.mjs``): it checks the MD5 digests of what it sends and
receives, and maps errors to its modeled exception classes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.clients.conftest import aws_env, program, run
from tests.services import require

SCRIPTS = Path(__file__).parents[1] / "s3" / "clients" / "js"


def test_the_javascript_sdk(live_server: LiveServer, tmp_path: Path) -> None:
    node = program("node")
    require((SCRIPTS / "node_modules").is_dir(), f"the SDK's packages (run `npm ci` in {SCRIPTS})")
    env = {**aws_env(live_server, tmp_path), "SQS_ENDPOINT": live_server.url}
    summary = json.loads(run([node, str(SCRIPTS / "sqs.mjs")], env).stdout)
    assert summary["queueUrl"] == f"{live_server.url}/000000000000/js-sdk"
    assert summary["batch"] == ["e0", "e1", "e2"]
    assert summary["bodies"] == ["batch 0", "batch 1", "batch 2", "h\u00e9llo from node \U0001f600"]
    assert summary["receivedAttributes"] == {
        "kind": {"DataType": "String", "StringValue": "greeting"}
    }
    assert summary["receivedAttributesMd5"] == summary["sentAttributesMd5"]
    assert summary["deleted"] == 4
    assert summary["visible"] == "0"
    assert summary["missing"] == {"modeled": True, "name": "QueueDoesNotExist"}
