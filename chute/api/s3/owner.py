"""The owner S3 documents name: Chute has one account, which owns every bucket."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from chute.api.s3.request import S3Request
from chute.api.s3.xml import element, leaf

#: The canonical user id of Chute's one account (64 hex digits, as S3 writes them).
OWNER_ID = "c4c0e0000000000000000000000000000000000000000000000000000000c4c0"
OWNER_NAME = "chute"


def owner(request: S3Request, tag: str = "Owner") -> ET.Element:
    return element(tag, leaf("ID", OWNER_ID), leaf("DisplayName", OWNER_NAME))
