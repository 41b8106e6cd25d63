"""The body of every error answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chute.errors import NoSuchKey


class ErrorBody(BaseModel):
    """What a refused or failed request gets: an S3-style code (``NoSuchKey``,
    ``InvalidArgument``...) for programs and a message for people."""

    code: str = Field(examples=[NoSuchKey.code])
    message: str
