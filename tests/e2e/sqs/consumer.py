"""A plain boto3 SQS worker, as teams write them for S3 events: long-poll the queue,
process each record (here: copy the object to ``results/`` with this worker's name),
delete the message. Only ``AWS_ENDPOINT_URL`` and the credentials in the environment
point it at Chute.

Run as ``python consumer.py QUEUE_NAME WORKER_NAME LOG_FILE``. A key holding
``poison`` fails every time (the message is never deleted); a key holding ``slow``
makes a worker started with ``HANG_ON_SLOW=1`` write ``LOG_FILE.hung`` and hang, for
its test to kill it mid-message.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3


def main(queue_name: str, worker: str, log_file: str) -> None:
    sqs = boto3.client("sqs")
    s3 = boto3.client("s3")
    queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    log = Path(log_file)
    while True:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=5, WaitTimeSeconds=2)
        for message in answer.get("Messages", []):
            event = json.loads(message["Body"])
            if event.get("Event") == "s3:TestEvent":
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                continue
            try:
                for record in event["Records"]:
                    process(s3, record, worker, log)
            except RuntimeError:
                continue  # left for redelivery, then the dead-letter queue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            with log.open("a") as out:
                out.write(f"deleted {message['MessageId']}\n")


def process(s3: Any, record: dict[str, Any], worker: str, log: Path) -> None:
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])
    if "poison" in key:
        raise RuntimeError(f"cannot process {key}")
    if "slow" in key and os.environ.get("HANG_ON_SLOW") == "1":
        Path(str(log) + ".hung").write_text(key)
        time.sleep(600)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=f"results/{key}", Body=body + f" by {worker}".encode())
    with log.open("a") as out:
        out.write(f"processed {key} {worker}\n")
        out.flush()
        os.fsync(out.fileno())


if __name__ == "__main__":
    main(*sys.argv[1:4])
