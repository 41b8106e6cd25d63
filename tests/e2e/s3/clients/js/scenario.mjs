// The AWS SDK for JavaScript v3, unchanged, against an S3 endpoint: only the endpoint,
// the credentials and path-style addressing are configured (and no retries, so none
// hides a failure); checksums, multipart and streaming bodies are the SDK's defaults.
// Driven by test_js_sdk.py, which reads the JSON summary printed on stdout and checks
// what was stored with boto3.
//
// Environment: S3_ENDPOINT, S3_BUCKET (created here), AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_REGION. Exits non-zero on the first failure.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";

import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const MiB = 1024 * 1024;
const TEXT_KEY = "notes/h\u00e9llo w\u00f6rld.txt";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const bucket = env("S3_BUCKET");
const client = new S3Client({
  endpoint: env("S3_ENDPOINT"),
  region: env("AWS_REGION"),
  forcePathStyle: true,
  credentials: {
    accessKeyId: env("AWS_ACCESS_KEY_ID"),
    secretAccessKey: env("AWS_SECRET_ACCESS_KEY"),
  },
  maxAttempts: 1,
});

/** The headers that show how the SDK sent each request (checksums, body encoding), by
 * operation, recorded as the last step before the wire: observed, never changed. */
const WIRE_HEADERS = [
  "content-encoding",
  "content-md5",
  "transfer-encoding",
  "x-amz-checksum-algorithm",
  "x-amz-checksum-crc32",
  "x-amz-content-sha256",
  "x-amz-decoded-content-length",
  "x-amz-sdk-checksum-algorithm",
  "x-amz-trailer",
];
const wire = {};
client.middlewareStack.add(
  (next, context) => async (args) => {
    const seen = {};
    for (const name of WIRE_HEADERS) {
      if (args.request.headers[name] !== undefined) seen[name] = args.request.headers[name];
    }
    (wire[context.commandName] ??= []).push(seen);
    return next(args);
  },
  { step: "deserialize", name: "recordWireHeaders" },
);

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

/** The bytes uploaded, by key (the summary keeps their size, digest and ETag). */
const sent = {};
const summary = { sent: {}, read: {}, steps: {}, wire };

async function put(key, body, data) {
  const out = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  sent[key] = data;
  summary.sent[key] = { size: data.length, sha256: sha256(data), etag: out.ETag };
  return out;
}

/** `data` as a Readable stream of `chunk`-sized pieces, its length untold. */
function streamOf(data, chunk) {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += chunk) yield data.subarray(at, at + chunk);
    })(),
  );
}

async function putObjects() {
  const text = "h\u00e9llo from node, w\u00f6rld\n";
  const put1 = await put(TEXT_KEY, text, Buffer.from(text, "utf8"));
  assert.ok(put1.ChecksumCRC32, "a string body is sent with the default CRC32");
  const buffer = randomBytes(100_000);
  const put2 = await put("buffer.bin", buffer, buffer);
  assert.ok(put2.ChecksumCRC32, "a Buffer body is sent with the default CRC32");
  summary.steps.putChecksums = { string: put1.ChecksumCRC32, buffer: put2.ChecksumCRC32 };
  for (const name of ["one", "two", "three", "sub/four", "sub/five", "other/six"]) {
    const data = Buffer.from(`${name}\n`);
    await put(`tree/${name}.txt`, data, data);
  }
}

async function putStreams() {
  // A stream of known length goes up aws-chunked with a trailing CRC32.
  const known = randomBytes(300_000);
  const out = await client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: "stream.bin",
      Body: streamOf(known, 64 * 1024),
      ContentLength: known.length,
    }),
  );
  sent["stream.bin"] = known;
  summary.sent["stream.bin"] = { size: known.length, sha256: sha256(known), etag: out.ETag };
  summary.steps.stream = { etag: out.ETag, checksum: out.ChecksumCRC32 };
  // PutObject refuses a stream of unknown length (it cannot set
  // x-amz-decoded-content-length); Upload buffers it into parts.
  const unknown = randomBytes(6 * MiB + 12_345);
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: "stream-unknown.bin", Body: streamOf(unknown, 256 * 1024) },
    partSize: 5 * MiB,
  });
  const done = await upload.done();
  sent["stream-unknown.bin"] = unknown;
  summary.sent["stream-unknown.bin"] = {
    size: unknown.length,
    sha256: sha256(unknown),
    etag: done.ETag,
  };
}

async function uploadLarge() {
  const data = randomBytes(12 * MiB);
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: "large.bin", Body: data },
    partSize: 5 * MiB,
  });
  const parts = [];
  upload.on("httpUploadProgress", (progress) => parts.push(progress.part));
  const out = await upload.done();
  sent["large.bin"] = data;
  summary.sent["large.bin"] = { size: data.length, sha256: sha256(data), etag: out.ETag };
  summary.steps.upload = { etag: out.ETag, parts: [...new Set(parts)].sort() };
}

async function readBack() {
  for (const [key, data] of Object.entries(sent)) {
    const head = await client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }),
    );
    const got = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }),
    );
    const bytes = Buffer.from(await got.Body.transformToByteArray());
    assert.equal(sha256(bytes), sha256(data), `${key}: bytes read back differ`);
    assert.equal(head.ContentLength, data.length, `${key}: HeadObject's length`);
    assert.equal(got.ETag, head.ETag, `${key}: GetObject's and HeadObject's ETag`);
    assert.ok(got.ChecksumCRC32, `${key}: GetObject returns its CRC32 when asked`);
    summary.read[key] = {
      size: bytes.length,
      sha256: sha256(bytes),
      etag: got.ETag,
      checksumCRC32: got.ChecksumCRC32,
      checksumType: got.ChecksumType ?? null,
    };
  }
}

async function readRange() {
  const got = await client.send(
    new GetObjectCommand({ Bucket: bucket, Key: "buffer.bin", Range: "bytes=1000-1999" }),
  );
  const bytes = Buffer.from(await got.Body.transformToByteArray());
  assert.equal(sha256(bytes), sha256(sent["buffer.bin"].subarray(1000, 2000)));
  summary.steps.range = {
    size: bytes.length,
    contentRange: got.ContentRange,
    contentLength: got.ContentLength,
  };
}

async function list() {
  const keys = [];
  const prefixes = [];
  let pages = 0;
  let token;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: "tree/",
        Delimiter: "/",
        MaxKeys: 2,
        ContinuationToken: token,
      }),
    );
    pages += 1;
    keys.push(...(page.Contents ?? []).map((entry) => entry.Key));
    prefixes.push(...(page.CommonPrefixes ?? []).map((entry) => entry.Prefix));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  summary.steps.list = { keys, prefixes, pages };
}

async function copy() {
  summary.steps.copy = {};
  // The documentation's "must be URL-encoded", followed two ways: the key's characters
  // only, and the whole value, the slash after the bucket included.
  const sources = {
    "copies/buffer copy.bin": ["buffer.bin", `${bucket}/buffer.bin`],
    "copies/encoded.txt": [TEXT_KEY, encodeURIComponent(`${bucket}/${TEXT_KEY}`)],
  };
  for (const [target, [source, copySource]] of Object.entries(sources)) {
    const out = await client.send(
      new CopyObjectCommand({ Bucket: bucket, Key: target, CopySource: copySource }),
    );
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: target }));
    const bytes = Buffer.from(await got.Body.transformToByteArray());
    assert.equal(sha256(bytes), sha256(sent[source]), `the bytes of ${target}`);
    summary.steps.copy[target] = { etag: out.CopyObjectResult?.ETag, sha256: sha256(bytes) };
  }
}

async function deleteSome() {
  const out = await client.send(
    new DeleteObjectsCommand({
      Bucket: bucket,
      Delete: { Objects: [{ Key: "tree/one.txt" }, { Key: "tree/two.txt" }, { Key: "absent" }] },
    }),
  );
  assert.deepEqual(out.Errors ?? [], [], "DeleteObjects reports no errors");
  summary.steps.deleted = (out.Deleted ?? []).map((entry) => entry.Key).sort();
}

async function presigned() {
  const url = await getSignedUrl(
    client,
    new GetObjectCommand({ Bucket: bucket, Key: TEXT_KEY }),
    { expiresIn: 300 },
  );
  const response = await fetch(url);
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(response.status, 200, `the presigned URL answered ${response.status}`);
  summary.steps.presigned = { status: response.status, sha256: sha256(bytes) };
}

async function missing() {
  try {
    await client.send(new GetObjectCommand({ Bucket: bucket, Key: "no/such/key" }));
  } catch (error) {
    assert.ok(error instanceof NoSuchKey, `expected NoSuchKey, got ${error.name}`);
    summary.steps.missing = { name: error.name, status: error.$metadata?.httpStatusCode };
    return;
  }
  throw new Error("GetObject of a missing key succeeded");
}

async function main() {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  await putObjects();
  await putStreams();
  await uploadLarge();
  await readBack();
  await readRange();
  await list();
  await copy();
  await deleteSome();
  await presigned();
  await missing();
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
