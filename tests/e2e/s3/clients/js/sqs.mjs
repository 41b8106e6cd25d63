// The AWS SDK for JavaScript v3's SQS client, unchanged, against an SQS endpoint: only
// the endpoint and credentials are configured (and no retries). The SDK checks the MD5
// digests of every body it sends and receives. Driven by tests/e2e/sqs/test_js_sdk.py,
// which reads the JSON summary printed on stdout.
//
// Environment: SQS_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.

import assert from "node:assert/strict";

import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";

const sqs = new SQSClient({ endpoint: process.env.SQS_ENDPOINT, maxAttempts: 1 });
const summary = {};

const { QueueUrl } = await sqs.send(
  new CreateQueueCommand({ QueueName: "js-sdk", Attributes: { VisibilityTimeout: "30" } }),
);
summary.queueUrl = QueueUrl;
const body = "h\u00e9llo from node \u{1F600}";
const sent = await sqs.send(
  new SendMessageCommand({
    QueueUrl,
    MessageBody: body,
    MessageAttributes: { kind: { DataType: "String", StringValue: "greeting" } },
  }),
);
summary.sentId = sent.MessageId;
summary.sentAttributesMd5 = sent.MD5OfMessageAttributes;
const batch = await sqs.send(
  new SendMessageBatchCommand({
    QueueUrl,
    Entries: [0, 1, 2].map((n) => ({ Id: `e${n}`, MessageBody: `batch ${n}` })),
  }),
);
summary.batch = batch.Successful.map((entry) => entry.Id).sort();
const received = [];
while (received.length < 4) {
  const answer = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageAttributeNames: ["All"],
      MessageSystemAttributeNames: ["ApproximateReceiveCount"],
    }),
  );
  received.push(...(answer.Messages ?? []));
}
summary.bodies = received.map((m) => m.Body).sort();
const first = received.find((m) => m.Body === body);
summary.receivedAttributes = first.MessageAttributes;
summary.receivedAttributesMd5 = first.MD5OfMessageAttributes;
const deleted = await sqs.send(
  new DeleteMessageBatchCommand({
    QueueUrl,
    Entries: received.map((m, n) => ({ Id: `d${n}`, ReceiptHandle: m.ReceiptHandle })),
  }),
);
summary.deleted = deleted.Successful.length;
const attributes = await sqs.send(
  new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }),
);
summary.visible = attributes.Attributes.ApproximateNumberOfMessages;
try {
  await sqs.send(new SendMessageCommand({ QueueUrl: QueueUrl + "-gone", MessageBody: "x" }));
  assert.fail("sent to a missing queue");
} catch (error) {
  summary.missing = { modeled: error instanceof QueueDoesNotExist, name: error.name };
}
console.log(JSON.stringify(summary));
