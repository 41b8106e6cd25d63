"""How the JSON API writes times: in UTC with milliseconds, as S3 writes ``eventTime``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema

from chute.events import format_time

#: A moment, written ``2024-05-01T12:00:00.250Z``; read back as an aware datetime.
Timestamp = Annotated[
    datetime,
    PlainSerializer(format_time, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
