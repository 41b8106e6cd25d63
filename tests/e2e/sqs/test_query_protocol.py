"""The query protocol, with a real client that speaks it: an older botocore's SQS
client (installed by ``make`` into ``.venv/botocore-query``), run in a process of its
own so it does not meet the current botocore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import ROOT_KEY, LiveServer
from tests.services import require

ROOT = Path(__file__).resolve().parents[3]
OLD_BOTOCORE = ROOT / ".venv" / "botocore-query"
SCRIPT = Path(__file__).with_name("query_client.py")


def test_an_older_sdk_speaking_the_query_protocol(live_server: LiveServer) -> None:
    require((OLD_BOTOCORE / "botocore").is_dir(), "the query-protocol botocore (make)")
    env = {**os.environ, "PYTHONPATH": f"{OLD_BOTOCORE}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), live_server.url, ROOT_KEY.access_key, ROOT_KEY.secret_key],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["protocol"] == "query"
    assert seen["url"] == f"{live_server.url}/000000000000/query-proto"
    assert seen["attributes"]["VisibilityTimeout"] == "20"
    assert seen["tags"] == {"team": "a"}
    assert seen["listed"] == [seen["url"]]
    assert seen["batch_ids"] == ["e0", "e1", "e2"]
    assert seen["bodies"] == ["<hello & goodbye>", "batch 0", "batch 1", "batch 2"]
    assert seen["message_attributes"] == {"kind": "greeting", "raw": "0102"}
    assert seen["receive_count"] == "1"
    assert seen["deleted"] == 4
    assert seen["missing"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert seen["eleven"] == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    assert seen["move_tasks"] == ["arn:aws:sqs:us-east-1:000000000000:query-dlq"]
