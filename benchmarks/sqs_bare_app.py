"""The SQS client's ceiling: a bare ASGI app answering the benchmark's SQS calls with
fixed, valid answers (one message per receive), doing no work at all.

Run by ``benchmarks/sqs.py`` under uvicorn and driven by the same clients as Chute and
moto, so its rate is what the boto3 clients themselves allow on this machine.
"""

from __future__ import annotations

import hashlib
import json

from starlette.types import Receive, Scope, Send

BODY = "x" * 256
_MD5 = hashlib.md5(BODY.encode()).hexdigest()
_MESSAGE = {"MessageId": "0", "ReceiptHandle": "r", "MD5OfBody": _MD5, "Body": BODY}
_ANSWERS = {
    "AmazonSQS.CreateQueue": {"QueueUrl": "http://127.0.0.1/000000000000/bench"},
    "AmazonSQS.SendMessage": {"MessageId": "0", "MD5OfMessageBody": _MD5},
    "AmazonSQS.ReceiveMessage": {"Messages": [_MESSAGE]},
    "AmazonSQS.DeleteMessage": {},
    "AmazonSQS.SendMessageBatch": {
        "Successful": [
            {"Id": str(n), "MessageId": str(n), "MD5OfMessageBody": _MD5} for n in range(10)
        ],
        "Failed": [],
    },
    "AmazonSQS.DeleteMessageBatch": {"Successful": [{"Id": str(n)} for n in range(10)]},
}
_BATCH_RECEIVE = json.dumps(
    {"Messages": [{**_MESSAGE, "MessageId": str(n)} for n in range(10)]}
).encode()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    target = dict(scope["headers"]).get(b"x-amz-target", b"").decode()
    answer = json.dumps(_ANSWERS.get(target, {})).encode()
    if target == "AmazonSQS.ReceiveMessage" and b'"MaxNumberOfMessages": 10' in body:
        answer = _BATCH_RECEIVE
    headers = [(b"content-type", b"application/x-amz-json-1.0")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
