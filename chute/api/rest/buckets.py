"""Bucket endpoints: create, list, inspect, delete, versioning."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from chute.api.rest.deps import object_service, request_context
from chute.api.rest.errors import error_responses
from chute.api.rest.models.buckets import BucketList, BucketView, CreateBucket, VersioningState
from chute.api.rest.params import Text
from chute.api.rest.routes import SmallBodyRoute
from chute.catalog import Versioning
from chute.errors import (
    BucketAlreadyExists,
    BucketNotEmpty,
    InvalidArgument,
    InvalidBucketName,
    NoSuchBucket,
)

router = APIRouter(tags=["buckets"], route_class=SmallBodyRoute)


@router.get("/buckets", summary="List buckets")
async def list_buckets(request: Request) -> BucketList:
    buckets = await run_in_threadpool(
        object_service(request).list_buckets, request_context(request)
    )
    return BucketList(buckets=[BucketView.of(b) for b in buckets])


@router.put(
    "/buckets/{bucket}",
    status_code=201,
    summary="Create a bucket",
    responses=error_responses(InvalidBucketName, InvalidArgument, BucketAlreadyExists),
)
async def create_bucket(
    request: Request, bucket: Text, body: CreateBucket | None = None
) -> BucketView:
    versioning = Versioning((body or CreateBucket()).versioning)
    created = await run_in_threadpool(
        object_service(request).create_bucket, request_context(request), bucket, versioning
    )
    return BucketView.of(created)


@router.get(
    "/buckets/{bucket}",
    summary="Describe a bucket",
    responses=error_responses(InvalidArgument, NoSuchBucket),
)
async def get_bucket(request: Request, bucket: Text) -> BucketView:
    found = await run_in_threadpool(
        object_service(request).get_bucket, request_context(request), bucket
    )
    return BucketView.of(found)


@router.delete(
    "/buckets/{bucket}",
    status_code=204,
    summary="Delete an empty bucket",
    responses=error_responses(InvalidArgument, NoSuchBucket, BucketNotEmpty),
)
async def delete_bucket(request: Request, bucket: Text) -> Response:
    await run_in_threadpool(object_service(request).delete_bucket, request_context(request), bucket)
    return Response(status_code=204)


@router.get(
    "/buckets/{bucket}/versioning",
    summary="Get a bucket's versioning state",
    responses=error_responses(InvalidArgument, NoSuchBucket),
)
async def get_versioning(request: Request, bucket: Text) -> VersioningState:
    found = await run_in_threadpool(
        object_service(request).get_bucket, request_context(request), bucket
    )
    return VersioningState.of(found)


@router.put(
    "/buckets/{bucket}/versioning",
    summary="Enable or suspend versioning",
    responses=error_responses(InvalidArgument, NoSuchBucket),
)
async def set_versioning(request: Request, bucket: Text, body: VersioningState) -> VersioningState:
    service = object_service(request)
    updated = await run_in_threadpool(
        service.set_versioning, request_context(request), bucket, Versioning(body.status)
    )
    return VersioningState.of(updated)
