"""Events: the event log's pages, each event an S3 event notification record.

The record's fields are named as S3 names them (``eventName``, ``s3.object.eTag``...):
code written for S3 reads them unchanged. Fields S3 leaves out when they do not apply
(an object's size and ETag on a removal, its version id in an unversioned bucket) are
left out here too, not sent as ``null``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from chute.events import EventName, render

if TYPE_CHECKING:
    from chute.catalog import EventRow


def _absent(value: Any) -> bool:
    return value is None


#: Fields S3 leaves out, rather than sends as ``null``, when they do not apply.
OptionalInt = Annotated[int | None, Field(exclude_if=_absent), WithJsonSchema({"type": "integer"})]
OptionalStr = Annotated[str | None, Field(exclude_if=_absent), WithJsonSchema({"type": "string"})]


class _S3Shape(BaseModel):
    """Fields named in camelCase on the wire, as S3 spells them."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Identity(_S3Shape):
    """Who made the change."""

    principal_id: str


class RequestParameters(_S3Shape):
    """Where the request came from."""

    source_ip_address: str = Field(alias="sourceIPAddress")


class ResponseElements(_S3Shape):
    """The request id, under both names S3 uses."""

    request_id: str = Field(alias="x-amz-request-id")
    host_id: str = Field(alias="x-amz-id-2")


class S3Bucket(_S3Shape):
    """The bucket of the changed object."""

    name: str
    owner_identity: Identity
    arn: str


class S3Object(_S3Shape):
    """The changed object; its key URL-encoded as S3 does (spaces as ``+``)."""

    key: str
    size: OptionalInt = None
    e_tag: OptionalStr = None
    version_id: OptionalStr = None
    sequencer: str


class S3Entity(_S3Shape):
    """The ``s3`` part of a record."""

    s3_schema_version: str
    configuration_id: str
    bucket: S3Bucket
    s3_object: S3Object = Field(alias="object")


class EventRecord(_S3Shape):
    """One S3 event notification record (one element of S3's ``Records``)."""

    event_version: str
    event_source: str
    aws_region: str
    event_time: str = Field(description="ISO 8601 in UTC with milliseconds.")
    event_name: str = Field(examples=[EventName.OBJECT_CREATED_PUT.value])
    user_identity: Identity
    request_parameters: RequestParameters
    response_elements: ResponseElements
    s3: S3Entity


class EventView(BaseModel):
    """A stored event: its id (the cursor to resume after it) and its record."""

    id: int
    record: EventRecord

    @classmethod
    def of(cls, event: EventRow) -> EventView:
        return cls(id=event.id, record=EventRecord.model_validate(render(event)))


class EventPage(BaseModel):
    """Events oldest first; pass ``next_cursor`` as ``after`` to read on."""

    events: list[EventView]
    next_cursor: int
