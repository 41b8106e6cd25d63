"""A handler in the style of AWS's "S3 trigger to create thumbnail images" tutorial:
the same calls (``download_file``, ``upload_file``, ``unquote_plus`` on the key)."""

import os
import uuid
from typing import Any
from urllib.parse import unquote_plus

import boto3
from PIL import Image

s3_client = boto3.client("s3")


def resize_image(image_path: str, resized_path: str) -> None:
    with Image.open(image_path) as image:
        width, height = image.size
        image.thumbnail((width // 2, height // 2))
        image.save(resized_path)


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        tmpkey = key.replace("/", "")
        download_path = f"/tmp/{uuid.uuid4()}{tmpkey}"
        upload_path = f"/tmp/resized-{tmpkey}"
        s3_client.download_file(bucket, key, download_path)
        resize_image(download_path, upload_path)
        s3_client.upload_file(upload_path, f"{bucket}-resized", f"resized-{key}")
        os.remove(download_path)
        os.remove(upload_path)
