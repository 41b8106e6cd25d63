"""An SQS client of an older botocore, which speaks SQS's query protocol, run as a
script (``PYTHONPATH`` puts that botocore first): it drives a server at ``argv[1]`` and
prints what it saw as JSON, for :mod:`test_query_protocol` to check."""

from __future__ import annotations

import json
import sys
from typing import Any

import botocore.session
from botocore.exceptions import ClientError


def main(url: str, access_key: str, secret_key: str) -> dict[str, Any]:
    sqs: Any = botocore.session.get_session().create_client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    )
    seen: dict[str, Any] = {"botocore": botocore.__version__}
    seen["protocol"] = sqs.meta.service_model.protocol
    queue = sqs.create_queue(
        QueueName="query-proto", Attributes={"VisibilityTimeout": "20"}, tags={"team": "a"}
    )["QueueUrl"]
    seen["url"] = queue
    seen["attributes"] = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])[
        "Attributes"
    ]
    seen["tags"] = sqs.list_queue_tags(QueueUrl=queue)["Tags"]
    seen["listed"] = sqs.list_queues(QueueNamePrefix="query")["QueueUrls"]
    sqs.send_message(
        QueueUrl=queue,
        MessageBody="<hello & goodbye>",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "greeting"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
        },
    )  # this botocore checks the MD5 digests too
    batch = sqs.send_message_batch(
        QueueUrl=queue, Entries=[{"Id": f"e{n}", "MessageBody": f"batch {n}"} for n in range(3)]
    )
    seen["batch_ids"] = sorted(entry["Id"] for entry in batch["Successful"])
    messages = sqs.receive_message(
        QueueUrl=queue,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    )["Messages"]
    seen["bodies"] = sorted(message["Body"] for message in messages)
    first = next(m for m in messages if m["Body"] == "<hello & goodbye>")
    seen["message_attributes"] = {
        name: value.get("StringValue") or value["BinaryValue"].hex()
        for name, value in first["MessageAttributes"].items()
    }
    seen["receive_count"] = first["Attributes"]["ApproximateReceiveCount"]
    deleted = sqs.delete_message_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": f"d{n}", "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
        ],
    )
    seen["deleted"] = len(deleted["Successful"])
    try:
        sqs.get_queue_url(QueueName="no-such-queue")
    except ClientError as error:
        seen["missing"] = error.response["Error"]["Code"]
    try:
        sqs.send_message_batch(
            QueueUrl=queue, Entries=[{"Id": f"e{n}", "MessageBody": "x"} for n in range(11)]
        )
    except ClientError as error:
        seen["eleven"] = error.response["Error"]["Code"]
    sqs.delete_queue(QueueUrl=queue)
    # A redrive: the list of tasks is a flattened list of entries in XML.
    arn = "arn:aws:sqs:us-east-1:000000000000:"
    sqs.create_queue(QueueName="query-dlq")
    policy = json.dumps({"deadLetterTargetArn": arn + "query-dlq", "maxReceiveCount": 1})
    sqs.create_queue(QueueName="query-src", Attributes={"RedrivePolicy": policy})
    sqs.start_message_move_task(SourceArn=arn + "query-dlq")
    tasks = sqs.list_message_move_tasks(SourceArn=arn + "query-dlq", MaxResults=10)
    seen["move_tasks"] = [task["SourceArn"] for task in tasks["Results"]]
    return seen


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
